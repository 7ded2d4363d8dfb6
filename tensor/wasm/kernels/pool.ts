/** Max/avg pooling over [BC, D, H, W] with windows clipped to the input; backward gathers (no atomics). */
import type { KernelContext } from "./context.ts";

/**
 * Args: [max, backward, srcPtr, dstPtr, argPtr, n, chunk, Di, Hi, Wi, Do, Ho, Wo, kd, kh, kw, sd, sh, sw, pd, ph,
 * pw, countIncludePad].
 */
export function poolKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, isMax = a[0] === 1, backward = a[1] === 1, sb = a[2] / 4, db = a[3] / 4, ab = a[4] / 4;
  const n = a[5], chunk = a[6];
  const inD = [a[7], a[8], a[9]], outD = [a[10], a[11], a[12]], K = [a[13], a[14], a[15]];
  const S = [a[16], a[17], a[18]], P = [a[19], a[20], a[21]], includePad = a[22] === 1;
  const [Di, Hi, Wi] = inD, [Do, Ho, Wo] = outD;
  // (start, end) clipped to the input, and the divisor span clipped to input + pad.
  const win = (o: number, ax: number): [number, number, number] => {
    const s = o * S[ax] - P[ax];
    const e = Math.min(s + K[ax], inD[ax] + P[ax]);
    return [Math.max(s, 0), Math.min(e, inD[ax]), e - s];
  };
  const start = c * chunk, end = Math.min(n, start + chunk);
  if (!backward) {
    // Windows per axis, computed once per chunk (no allocation per output).
    const wins = [0, 1, 2].map((ax) => Array.from({ length: outD[ax] }, (_, o) => win(o, ax)));
    for (let i = start; i < end; i++) {
      const ow = i % Wo, oh = Math.floor(i / Wo) % Ho, od = Math.floor(i / (Wo * Ho)) % Do;
      const base = sb + Math.floor(i / (Wo * Ho * Do)) * Di * Hi * Wi;
      const wd = wins[0][od], wh = wins[1][oh], ww = wins[2][ow];
      if (isMax) {
        let best = -3.4028234663852886e38, arg = -1;
        for (let d = wd[0]; d < wd[1]; d++) {
          for (let h = wh[0]; h < wh[1]; h++) {
            for (let w = ww[0]; w < ww[1]; w++) {
              const idx = (d * Hi + h) * Wi + w, v = x[base + idx];
              if (v > best || v !== v || arg < 0) {
                best = v;
                arg = idx;
              }
            }
          }
        }
        x[db + i] = best;
        ctx.i32[ab + i] = arg;
      } else {
        let acc = 0, cnt = 0;
        for (let d = wd[0]; d < wd[1]; d++) {
          for (let h = wh[0]; h < wh[1]; h++) {
            for (let w = ww[0]; w < ww[1]; w++, cnt++) acc += x[base + (d * Hi + h) * Wi + w];
          }
        }
        x[db + i] = acc / (includePad ? wd[2] * wh[2] * ww[2] : Math.max(cnt, 1));
      }
    }
    return;
  }
  if (isMax) {
    // Max backward by whole planes (chunk = plane): zero the plane, then add each output's gradient at its argmax.
    const inVol = Di * Hi * Wi, outVol = Do * Ho * Wo;
    const dx = db + c * inVol, g = sb + c * outVol, arg = ab + c * outVol;
    x.fill(0, dx, dx + inVol);
    for (let o = 0; o < outVol; o++) {
      const at = ctx.i32[arg + o];
      if (at >= 0) x[dx + at] += x[g + o];
    }
    return;
  }
  const lo = (i: number, ax: number) => Math.max(Math.trunc((i + P[ax] - K[ax] + S[ax]) / S[ax]), 0);
  const hi = (i: number, ax: number, out: number) => Math.min(Math.trunc((i + P[ax]) / S[ax]) + 1, out);
  for (let i = start; i < end; i++) {
    const iw = i % Wi, ih = Math.floor(i / Wi) % Hi, id = Math.floor(i / (Wi * Hi)) % Di;
    const bc = Math.floor(i / (Wi * Hi * Di));
    const me = (id * Hi + ih) * Wi + iw;
    let acc = 0;
    for (let od = lo(id, 0); od < hi(id, 0, Do); od++) {
      for (let oh = lo(ih, 1); oh < hi(ih, 1, Ho); oh++) {
        for (let ow = lo(iw, 2); ow < hi(iw, 2, Wo); ow++) {
          const o = ((bc * Do + od) * Ho + oh) * Wo + ow;
          if (isMax) {
            if (ctx.i32[ab + o] === me) acc += x[sb + o];
            continue;
          }
          const wd = win(od, 0), wh = win(oh, 1), ww = win(ow, 2);
          if (id >= wd[0] && id < wd[1] && ih >= wh[0] && ih < wh[1] && iw >= ww[0] && iw < ww[1]) {
            const cnt = (wd[1] - wd[0]) * (wh[1] - wh[0]) * (ww[1] - ww[0]);
            acc += x[sb + o] / (includePad ? wd[2] * wh[2] * ww[2] : Math.max(cnt, 1));
          }
        }
      }
    }
    x[db + i] = acc;
  }
}
