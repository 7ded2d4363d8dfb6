/**
 * Nearest/trilinear resampling over [BC, D, H, W] (align_corners = false), source indices computed in float32
 * exactly as the GPU kernels do. Nearest runs in kernels.wasm (backward by planes); trilinear backward gathers
 * over the outputs that read each input (no scatter).
 */
import type { KernelContext } from "./context.ts";

const f = Math.fround;

function srcLinear(o: number, inv: number, n: number): [number, number, number] {
  const s = Math.max(f(f(f(o + 0.5) * inv) - 0.5), 0);
  const i0 = Math.min(Math.floor(s), n - 1), i1 = Math.min(i0 + 1, n - 1);
  return [i0, i1, f(s - i0)];
}
function wLinear(o: number, i: number, inv: number, n: number): number {
  const [i0, i1, l] = srcLinear(o, inv, n);
  let w = 0;
  if (i0 === i) w += 1 - l;
  if (i1 === i) w += l;
  return w;
}

/** Args: [trilinear, backward, srcPtr, dstPtr, n, chunk, Di, Hi, Wi, Do, Ho, Wo, invD, invH, invW]. */
export function resampleKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, linear = a[0] === 1, backward = a[1] === 1, sb = a[2] / 4, db = a[3] / 4;
  const n = a[4], chunk = a[5], [Di, Hi, Wi, Do, Ho, Wo] = [6, 7, 8, 9, 10, 11].map((i) => a[i]);
  const invD = f(a[12]), invH = f(a[13]), invW = f(a[14]);
  const start = c * chunk, end = Math.min(n, start + chunk);
  // Nearest (both directions) in kernels.wasm; backward by whole planes (chunk = plane), gathering per output.
  if (!linear) {
    const run = backward ? ctx.simd.nearestBackward : ctx.simd.nearestForward;
    const [from, to] = backward ? [c, c + 1] : [start, end];
    if (to > from) run(a[2], a[3], from, to, Di, Hi, Wi, Do, Ho, Wo, invD, invH, invW);
    return;
  }
  if (!backward) {
    for (let i = start; i < end; i++) {
      const ow = i % Wo, oh = Math.floor(i / Wo) % Ho, od = Math.floor(i / (Wo * Ho)) % Do;
      const base = sb + Math.floor(i / (Wo * Ho * Do)) * Di * Hi * Wi;
      const td = srcLinear(od, invD, Di), th = srcLinear(oh, invH, Hi), tw = srcLinear(ow, invW, Wi);
      let acc = 0;
      for (let p = 0; p < 2; p++) {
        const d = td[p], wd = p === 1 ? td[2] : 1 - td[2];
        for (let q = 0; q < 2; q++) {
          const h = th[q], wh = q === 1 ? th[2] : 1 - th[2];
          const row = base + (d * Hi + h) * Wi;
          acc += wd * wh * ((1 - tw[2]) * x[row + tw[0]] + tw[2] * x[row + tw[1]]);
        }
      }
      x[db + i] = acc;
    }
    return;
  }
  const range = (ax: number, inv: number, out: number): [number, number] => [
    Math.max(Math.floor((ax - 0.5) / inv) - 2, 0),
    Math.min(Math.ceil((ax + 1.5) / inv) + 2, out),
  ];
  const weight = wLinear;
  for (let i = start; i < end; i++) {
    const iw = i % Wi, ih = Math.floor(i / Wi) % Hi, id = Math.floor(i / (Wi * Hi)) % Di;
    const base = sb + Math.floor(i / (Wi * Hi * Di)) * Do * Ho * Wo;
    const [dlo, dhi] = range(id, invD, Do),
      [hlo, hhi] = range(ih, invH, Ho),
      [wlo, whi] = range(iw, invW, Wo);
    let acc = 0;
    for (let od = dlo; od < dhi; od++) {
      const wd = weight(od, id, invD, Di);
      if (wd === 0) continue;
      for (let oh = hlo; oh < hhi; oh++) {
        const wh = weight(oh, ih, invH, Hi);
        if (wh === 0) continue;
        for (let ow = wlo; ow < whi; ow++) {
          const ww = weight(ow, iw, invW, Wi);
          if (ww !== 0) acc += wd * wh * ww * x[base + (od * Ho + oh) * Wo + ow];
        }
      }
    }
    x[db + i] = acc;
  }
}
