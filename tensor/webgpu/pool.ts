/**
 * Max and average pooling over the three trailing axes of [BC, D, H, W] (2-D pooling uses unit depth).
 * Max pooling records the flat argmax per output; both backward passes gather over the outputs whose
 * window holds each input, so overlapping windows (kernel 3, stride 2) need no atomics.
 */
import type { PoolGeometry, PoolKind } from "../backend/geometry.ts";
import { kernelPrelude, type Runtime } from "./runtime.ts";
import { window } from "./chunk.ts";

const WG = 256;

const HEAD = (n: number) => `
${kernelPrelude(n)}
fn win(o: u32, ax: u32) -> vec3<i32> {
  // (start, end) clipped to the input, and the divisor span clipped to input + pad.
  let s = i32(o * U(13u + ax)) - i32(U(16u + ax));
  let e = min(s + i32(U(10u + ax)), i32(U(1u + ax)) + i32(U(16u + ax)));
  return vec3<i32>(max(s, 0), min(e, i32(U(1u + ax))), e - s);
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= U(0u)) { return; }
  let Di = U(1u); let Hi = U(2u); let Wi = U(3u); let Do = U(4u); let Ho = U(5u); let Wo = U(6u);`;

function forwardSource(kind: PoolKind): string {
  const bindings = kind === "max"
    ? `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<storage, read_write> Arg: array<i32>;`
    : `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;`;
  const body = kind === "max"
    ? `var best = -3.4028234663852886e38; var arg = -1;
  for (var d = wd.x; d < wd.y; d++) { for (var h = wh.x; h < wh.y; h++) { for (var w = ww.x; w < ww.y; w++) {
    let idx = (d * i32(Hi) + h) * i32(Wi) + w;
    let v = X[base + u32(idx) + U(7u)];
    if (v > best || v != v || arg < 0) { best = v; arg = idx; }
  } } }
  Y[i + U(8u)] = best; Arg[i + U(9u)] = arg;`
    : `var acc = 0.0; var cnt = 0;
  for (var d = wd.x; d < wd.y; d++) { for (var h = wh.x; h < wh.y; h++) { for (var w = ww.x; w < ww.y; w++) {
    acc += X[base + u32((d * i32(Hi) + h) * i32(Wi) + w) + U(7u)]; cnt++;
  } } }
  let div = select(f32(max(cnt, 1)), f32(wd.z * wh.z * ww.z), U(19u) == 1u);
  Y[i + U(8u)] = acc / div;`;
  return `${bindings}
${HEAD(kind === "max" ? 3 : 2)}
  let ow = i % Wo; let oh = (i / Wo) % Ho; let od = (i / (Wo * Ho)) % Do; let bc = i / (Wo * Ho * Do);
  let wd = win(od, 0u); let wh = win(oh, 1u); let ww = win(ow, 2u);
  let base = bc * Di * Hi * Wi;
  ${body}
}`;
}

function backwardSource(kind: PoolKind): string {
  const bindings = kind === "max"
    ? `@group(0) @binding(0) var<storage, read> DY: array<f32>;
@group(0) @binding(1) var<storage, read> Arg: array<i32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;`
    : `@group(0) @binding(0) var<storage, read> DY: array<f32>;
@group(0) @binding(1) var<storage, read_write> DX: array<f32>;`;
  const range = (ax: number, c: string, out: string) =>
    `let ${c}lo = u32(max((i32(${c}) + i32(U(${16 + ax}u)) - i32(U(${10 + ax}u)) + i32(U(${
      13 + ax
    }u))) / i32(U(${13 + ax}u)), 0));
  let ${c}hi = min(u32((i32(${c}) + i32(U(${16 + ax}u))) / i32(U(${13 + ax}u))) + 1u, ${out});`;
  const inner = kind === "max"
    ? `if (Arg[o + U(9u)] == me) { acc += DY[o + U(7u)]; }`
    : `let wd = win(od, 0u); let wh = win(oh, 1u); let ww = win(ow, 2u);
        if (id >= u32(wd.x) && id < u32(wd.y) && ih >= u32(wh.x) && ih < u32(wh.y) && iw >= u32(ww.x) && iw < u32(ww.y)) {
          let cnt = (wd.y - wd.x) * (wh.y - wh.x) * (ww.y - ww.x);
          acc += DY[o + U(7u)] / select(f32(max(cnt, 1)), f32(wd.z * wh.z * ww.z), U(19u) == 1u);
        }`;
  return `${bindings}
${HEAD(kind === "max" ? 3 : 2)}
  let iw = i % Wi; let ih = (i / Wi) % Hi; let id = (i / (Wi * Hi)) % Di; let bc = i / (Wi * Hi * Di);
  let me = i32((id * Hi + ih) * Wi + iw);
  ${range(0, "id", "Do")}
  ${range(1, "ih", "Ho")}
  ${range(2, "iw", "Wo")}
  var acc = 0.0;
  for (var od = idlo; od < idhi; od++) { for (var oh = ihlo; oh < ihhi; oh++) { for (var ow = iwlo; ow < iwhi; ow++) {
    let o = ((bc * Do + od) * Ho + oh) * Wo + ow;
    ${inner}
  } } }
  DX[i + U(8u)] = acc;
}`;
}

function uniforms(g: PoolGeometry, n: number, skews: number[]): number[] {
  // U(7..9): element skews of the source, destination and argmax bindings (plane chunks of huge tensors).
  return [
    n,
    ...g.inDims,
    ...g.outDims,
    ...skews,
    ...g.kernel,
    ...g.stride,
    ...g.pad,
    g.countIncludePad ? 1 : 0,
  ];
}

/** Dispatches over chunks of whole planes whose source/destination/argmax bindings fit the limit. */
function planes(
  rt: Runtime,
  src: GPUBuffer,
  srcVol: number,
  dst: GPUBuffer,
  dstVol: number,
  arg: GPUBuffer | null,
  argVol: number,
  g: PoolGeometry,
  run: (bufs: (GPUBuffer | GPUBufferBinding)[], n: number, skews: number[]) => void,
): void {
  const limit = rt.bindingLimit / 4 - rt.offsetAlignment / 4;
  const per = Math.min(g.BC, Math.floor(limit / Math.max(srcVol, dstVol)));
  if (per < 1) {
    throw new Error(
      `pool: one plane of [${g.inDims}] exceeds the storage binding limit (${rt.bindingLimit} bytes)`,
    );
  }
  if (per === g.BC) {
    run(arg ? [src, dst, arg] : [src, dst], g.BC * dstVol, [0, 0, 0]);
    return;
  }
  for (let p0 = 0; p0 < g.BC; p0 += per) {
    const np = Math.min(per, g.BC - p0);
    const ws = window(rt, src, p0 * srcVol, np * srcVol), wd = window(rt, dst, p0 * dstVol, np * dstVol);
    const wa = arg ? window(rt, arg, p0 * argVol, np * argVol) : null;
    run(wa ? [ws.binding, wd.binding, wa.binding] : [ws.binding, wd.binding], np * dstVol, [
      ws.skew,
      wd.skew,
      wa?.skew ?? 0,
    ]);
  }
}

const vol = (d: number[]) => d[0] * d[1] * d[2];

/** Pooling forward; `argmax` (int32, one per output) is required for max pooling. */
export function runPool(
  rt: Runtime,
  kind: PoolKind,
  x: GPUBuffer,
  y: GPUBuffer,
  argmax: GPUBuffer | null,
  g: PoolGeometry,
): void {
  const arg = kind === "max" ? argmax! : null;
  planes(rt, x, vol(g.inDims), y, vol(g.outDims), arg, vol(g.outDims), g, (bufs, n, skews) => {
    rt.dispatch(forwardSource(kind), bufs, uniforms(g, n, skews), Math.ceil(n / WG));
  });
}

/** Pooling backward: dx from dy (and the forward's argmax for max pooling). */
export function runPoolBackward(
  rt: Runtime,
  kind: PoolKind,
  dy: GPUBuffer,
  argmax: GPUBuffer | null,
  dx: GPUBuffer,
  g: PoolGeometry,
): void {
  const arg = kind === "max" ? argmax! : null;
  // Bindings in kernel order: DY, (Arg), DX — `planes` yields [src, dst, arg].
  planes(rt, dy, vol(g.outDims), dx, vol(g.inDims), arg, vol(g.outDims), g, (bufs, n, skews) => {
    const ordered = bufs.length === 3 ? [bufs[0], bufs[2], bufs[1]] : bufs;
    rt.dispatch(backwardSource(kind), ordered, uniforms(g, n, skews), Math.ceil(n / WG));
  });
}
