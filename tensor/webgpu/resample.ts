/**
 * Resampling kernels over the three trailing axes of [BC, D, H, W]: nearest and trilinear
 * (align_corners = false, PyTorch's source-index rule src = (o + ½)/scale − ½ clamped at 0). Backward passes
 * gather over the outputs that read each input, so no atomics are needed.
 */
import type { ResampleArgs, ResampleMode } from "../backend/geometry.ts";
import type { Runtime } from "./runtime.ts";
import { window } from "./chunk.ts";
import { kernelLayout } from "./kernel.ts";

const WG = 256;

const LAYOUT = kernelLayout(
  [{ name: "Src", type: "f32" }, { name: "Dst", type: "f32", access: "read_write" }],
  {
    n: "u32",
    Di: "u32",
    Hi: "u32",
    Wi: "u32",
    Do: "u32",
    Ho: "u32",
    Wo: "u32",
    /** Input/output size ratio per axis. */
    invD: "f32",
    invH: "f32",
    invW: "f32",
    /** Element skews of src/dst in their bindings (planes in chunks when larger than one binding). */
    skewSrc: "u32",
    skewDst: "u32",
  } as const,
);

const COMMON = `
fn srcLinear(o: u32, inv: f32, n: u32) -> vec3<f32> {
  // (i0, i1, lambda) of output o along one axis.
  let s = max((f32(o) + 0.5) * inv - 0.5, 0.0);
  let i0 = min(u32(floor(s)), n - 1u);
  let i1 = min(i0 + 1u, n - 1u);
  return vec3<f32>(f32(i0), f32(i1), s - f32(i0));
}
fn srcNearest(o: u32, inv: f32, n: u32) -> u32 { return min(u32(floor(f32(o) * inv)), n - 1u); }
fn wLinear(o: u32, i: u32, inv: f32, n: u32) -> f32 {
  let t = srcLinear(o, inv, n);
  var w = 0.0;
  if (u32(t.x) == i) { w += 1.0 - t.z; }
  if (u32(t.y) == i) { w += t.z; }
  return w;
}
`;

function source(mode: ResampleMode, backward: boolean): string {
  const head = `${LAYOUT.header}
${COMMON}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${LAYOUT.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= n) { return; }`;
  if (!backward) {
    const body = mode === "nearest"
      ? `let base = bc * Di * Hi * Wi + skewSrc;
  Dst[i + skewDst] = Src[base + (srcNearest(od, invD, Di) * Hi + srcNearest(oh, invH, Hi)) * Wi + srcNearest(ow, invW, Wi)];`
      : `let base = bc * Di * Hi * Wi + skewSrc;
  let td = srcLinear(od, invD, Di); let th = srcLinear(oh, invH, Hi); let tw = srcLinear(ow, invW, Wi);
  var acc = 0.0;
  for (var a = 0u; a < 2u; a++) {
    let d = u32(select(td.x, td.y, a == 1u)); let wd = select(1.0 - td.z, td.z, a == 1u);
    for (var b = 0u; b < 2u; b++) {
      let h = u32(select(th.x, th.y, b == 1u)); let wh = select(1.0 - th.z, th.z, b == 1u);
      let row = base + (d * Hi + h) * Wi;
      acc += wd * wh * ((1.0 - tw.z) * Src[row + u32(tw.x)] + tw.z * Src[row + u32(tw.y)]);
    }
  }
  Dst[i + skewDst] = acc;`;
    return `${head}
  let ow = i % Wo; let oh = (i / Wo) % Ho; let od = (i / (Wo * Ho)) % Do; let bc = i / (Wo * Ho * Do);
  ${body}
}`;
  }
  // Backward: i indexes the input; loop over the window of outputs that may read it.
  const range = (ax: string, inv: string, out: string) =>
    mode === "nearest"
      ? `let ${ax}lo = u32(max(floor(f32(${ax}) / ${inv}) - 1.0, 0.0)); let ${ax}hi = min(u32(ceil(f32(${ax} + 1u) / ${inv})) + 1u, ${out});`
      : `let ${ax}lo = u32(max(floor((f32(${ax}) - 0.5) / ${inv}) - 2.0, 0.0)); let ${ax}hi = min(u32(ceil((f32(${ax}) + 1.5) / ${inv})) + 2u, ${out});`;
  const weight = (o: string, ax: string, inv: string, n: string) =>
    mode === "nearest"
      ? `select(0.0, 1.0, srcNearest(${o}, ${inv}, ${n}) == ${ax})`
      : `wLinear(${o}, ${ax}, ${inv}, ${n})`;
  return `${head}
  let iw = i % Wi; let ih = (i / Wi) % Hi; let id = (i / (Wi * Hi)) % Di; let bc = i / (Wi * Hi * Di);
  ${range("id", "invD", "Do")}
  ${range("ih", "invH", "Ho")}
  ${range("iw", "invW", "Wo")}
  let base = bc * Do * Ho * Wo + skewSrc;
  var acc = 0.0;
  for (var od = idlo; od < idhi; od++) {
    let wd = ${weight("od", "id", "invD", "Di")};
    if (wd == 0.0) { continue; }
    for (var oh = ihlo; oh < ihhi; oh++) {
      let wh = ${weight("oh", "ih", "invH", "Hi")};
      if (wh == 0.0) { continue; }
      for (var ow = iwlo; ow < iwhi; ow++) {
        let ww = ${weight("ow", "iw", "invW", "Wi")};
        acc += wd * wh * ww * Src[base + (od * Ho + oh) * Wo + ow];
      }
    }
  }
  Dst[i + skewDst] = acc;
}`;
}

/** Forward (src = x, dst = y) or backward (src = dy, dst = dx) of a resampling. */
export function runResample(
  rt: Runtime,
  mode: ResampleMode,
  src: GPUBuffer,
  dst: GPUBuffer,
  a: ResampleArgs,
  backward: boolean,
): void {
  const dims = backward ? a.inDims : a.outDims;
  const srcDims = backward ? a.outDims : a.inDims;
  const dstVol = dims[0] * dims[1] * dims[2], srcVol = srcDims[0] * srcDims[1] * srcDims[2];
  const limit = rt.bindingLimit / 4 - rt.offsetAlignment / 4;
  const per = Math.min(a.BC, Math.floor(limit / Math.max(dstVol, srcVol)));
  if (per < 1) {
    throw new Error(
      `resample: one plane of [${srcDims}] → [${dims}] exceeds the storage binding limit (${rt.bindingLimit} bytes)`,
    );
  }
  for (let p0 = 0; p0 < a.BC; p0 += per) {
    const np = Math.min(per, a.BC - p0), n = np * dstVol;
    const whole = np === a.BC;
    const ws = window(rt, src, p0 * srcVol, np * srcVol), wd = window(rt, dst, p0 * dstVol, n);
    const [Di, Hi, Wi] = a.inDims, [Do, Ho, Wo] = a.outDims, [invD, invH, invW] = a.scale;
    const skewSrc = whole ? 0 : ws.skew, skewDst = whole ? 0 : wd.skew;
    const u = LAYOUT.pack({ n, Di, Hi, Wi, Do, Ho, Wo, invD, invH, invW, skewSrc, skewDst });
    rt.dispatch(source(mode, backward), whole ? [src, dst] : [ws.binding, wd.binding], u, Math.ceil(n / WG));
  }
}
