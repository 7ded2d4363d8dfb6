/**
 * Max and average pooling over the three trailing axes of [BC, D, H, W] (2-D pooling uses unit depth).
 * Max pooling records the flat argmax per output; both backward passes gather over the outputs whose
 * window holds each input, so overlapping windows (kernel 3, stride 2) need no atomics.
 */
import type { PoolGeometry, PoolKind } from "../backend/geometry.ts";
import type { Runtime } from "./runtime.ts";
import { window } from "./chunk.ts";
import { type BufferDecl, kernelLayout } from "./kernel.ts";

const WG = 256;

const UNIFORMS = {
  n: "u32",
  inDims: ["u32", 3],
  outDims: ["u32", 3],
  /** Element skews of the source, destination and argmax bindings (plane chunks of huge tensors). */
  skewSrc: "u32",
  skewDst: "u32",
  skewArg: "u32",
  ksize: ["u32", 3],
  stride: ["u32", 3],
  pad: ["u32", 3],
  countIncludePad: "u32",
} as const;

const read = (name: string, type = "f32"): BufferDecl => ({ name, type });
const write = (name: string, type = "f32"): BufferDecl => ({ name, type, access: "read_write" });
const LAYOUTS = {
  forward: {
    max: kernelLayout([read("X"), write("Y"), write("Arg", "i32")], UNIFORMS),
    avg: kernelLayout([read("X"), write("Y")], UNIFORMS),
  },
  backward: {
    max: kernelLayout([read("DY"), read("Arg", "i32"), write("DX")], UNIFORMS),
    avg: kernelLayout([read("DY"), write("DX")], UNIFORMS),
  },
};

const HEAD = (layout: typeof LAYOUTS.forward.max) =>
  `${layout.header}
fn win(o: u32, ax: u32) -> vec3<i32> {
  // (start, end) clipped to the input, and the divisor span clipped to input + pad.
  let s = i32(o * stride(ax)) - i32(pad(ax));
  let e = min(s + i32(ksize(ax)), i32(inDims(ax)) + i32(pad(ax)));
  return vec3<i32>(max(s, 0), min(e, i32(inDims(ax))), e - s);
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= n) { return; }
  let Di = inDims(0u); let Hi = inDims(1u); let Wi = inDims(2u);
  let Do = outDims(0u); let Ho = outDims(1u); let Wo = outDims(2u);`;

function forwardSource(kind: PoolKind): string {
  const body = kind === "max"
    ? `var best = -3.4028234663852886e38; var arg = -1;
  for (var d = wd.x; d < wd.y; d++) { for (var h = wh.x; h < wh.y; h++) { for (var w = ww.x; w < ww.y; w++) {
    let idx = (d * i32(Hi) + h) * i32(Wi) + w;
    let v = X[base + u32(idx) + skewSrc];
    if (v > best || v != v || arg < 0) { best = v; arg = idx; }
  } } }
  Y[i + skewDst] = best; Arg[i + skewArg] = arg;`
    : `var acc = 0.0; var cnt = 0;
  for (var d = wd.x; d < wd.y; d++) { for (var h = wh.x; h < wh.y; h++) { for (var w = ww.x; w < ww.y; w++) {
    acc += X[base + u32((d * i32(Hi) + h) * i32(Wi) + w) + skewSrc]; cnt++;
  } } }
  let div = select(f32(max(cnt, 1)), f32(wd.z * wh.z * ww.z), countIncludePad == 1u);
  Y[i + skewDst] = acc / div;`;
  return `${HEAD(LAYOUTS.forward[kind])}
  let ow = i % Wo; let oh = (i / Wo) % Ho; let od = (i / (Wo * Ho)) % Do; let bc = i / (Wo * Ho * Do);
  let wd = win(od, 0u); let wh = win(oh, 1u); let ww = win(ow, 2u);
  let base = bc * Di * Hi * Wi;
  ${body}
}`;
}

function backwardSource(kind: PoolKind): string {
  const range = (ax: number, c: string, out: string) =>
    `let ${c}lo = u32(max((i32(${c}) + i32(pad(${ax}u)) - i32(ksize(${ax}u)) + i32(stride(${ax}u))) / i32(stride(${ax}u)), 0));
  let ${c}hi = min(u32((i32(${c}) + i32(pad(${ax}u))) / i32(stride(${ax}u))) + 1u, ${out});`;
  const inner = kind === "max"
    ? `if (Arg[o + skewArg] == me) { acc += DY[o + skewSrc]; }`
    : `let wd = win(od, 0u); let wh = win(oh, 1u); let ww = win(ow, 2u);
        if (id >= u32(wd.x) && id < u32(wd.y) && ih >= u32(wh.x) && ih < u32(wh.y) && iw >= u32(ww.x) && iw < u32(ww.y)) {
          let cnt = (wd.y - wd.x) * (wh.y - wh.x) * (ww.y - ww.x);
          acc += DY[o + skewSrc] / select(f32(max(cnt, 1)), f32(wd.z * wh.z * ww.z), countIncludePad == 1u);
        }`;
  return `${HEAD(LAYOUTS.backward[kind])}
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
  DX[i + skewDst] = acc;
}`;
}

function uniforms(g: PoolGeometry, n: number, skews: number[]): Uint32Array {
  const [skewSrc, skewDst, skewArg] = skews;
  return LAYOUTS.forward.avg.pack({
    n,
    inDims: g.inDims,
    outDims: g.outDims,
    skewSrc,
    skewDst,
    skewArg,
    ksize: g.kernel,
    stride: g.stride,
    pad: g.pad,
    countIncludePad: g.countIncludePad ? 1 : 0,
  });
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
