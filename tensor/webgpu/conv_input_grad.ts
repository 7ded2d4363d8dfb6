/**
 * Input gradient of a 3-D convolution without scatter or atomics: for stride s it is s³ stride-1
 * convolutions of dy ("parity phases"), each writing one sub-lattice of dx with a flipped, transposed
 * sub-kernel of w. Each phase runs the forward implicit-GEMM kernel (conv_forward.ts).
 */
import type { ConvGeometry } from "../backend/geometry.ts";
import type { Runtime } from "./runtime.ts";
import type { Free, Tmp } from "./allocator.ts";
import { gemm, repack, tileCo, tileW } from "./conv_forward.ts";

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** One axis of one parity phase: residue r of dx, its valid kernel taps k0, k0+step, … (M of them). */
interface PhaseAxis {
  r: number;
  count: number;
  k0: number;
  step: number;
  M: number;
  pad: number;
  dil: number;
}

function phaseAxes(inDim: number, K: number, s: number, pb: number, dil: number): PhaseAxis[] {
  const out: PhaseAxis[] = [];
  for (let r = 0; r < s && r < inDim; r++) {
    const count = Math.ceil((inDim - r) / s);
    const taps: number[] = [];
    for (let k = 0; k < K; k++) if ((((r + pb - k * dil) % s) + s) % s === 0) taps.push(k);
    const step = s / gcd(dil, s);
    const M = taps.length, k0 = taps[0] ?? 0;
    const e = M > 0 ? (step * dil) / s : 1;
    const c0 = M > 0 ? (r + pb - k0 * dil) / s : 0;
    out.push({ r, count, k0, step, M, pad: (M - 1) * e - c0, dil: e });
  }
  return out;
}

/** dx = ∂(Σ y·dy)/∂x for y = conv(x, w): s³ stride-1 convolutions over dy, one per parity phase. */
export function runConvInputGrad(
  rt: Runtime,
  dy: GPUBuffer,
  w: GPUBuffer,
  dx: GPUBuffer,
  g: ConvGeometry,
  tmp: Tmp,
  free: Free,
): void {
  const [Kd, Kh, Kw] = g.kernel, K3 = Kd * Kh * Kw;
  const axisStride = [Kh * Kw, Kw, 1];
  const tco = tileCo(rt, g.Ci, g.inDims[0] * g.inDims[1] * g.inDims[2]), coPad = Math.ceil(g.Ci / tco) * tco;
  const axes = [0, 1, 2].map((a) =>
    phaseAxes(g.inDims[a], g.kernel[a], g.stride[a], g.padBefore[a], g.dilation[a])
  );
  for (const pd of axes[0]) {
    for (const ph of axes[1]) {
      for (const pw of axes[2]) {
        const ph3 = [pd, ph, pw];
        const M = ph3.map((q) => q.M);
        const R = g.Co * M[0] * M[1] * M[2];
        const p = tmp(Math.max(R, 1) * coPad * 4);
        if (R > 0) {
          // Sub-kernel tap m' (flipped) is original tap k0 + (M-1-m')·step.
          const base = ph3.reduce((acc, q, a) => acc + (q.k0 + (q.M - 1) * q.step) * axisStride[a], 0);
          repack(rt, w, p, {
            A: g.Co,
            M,
            cOut: g.Ci,
            coPad,
            base,
            sA: g.Ci * K3,
            sM: ph3.map((q, a) => -q.step * axisStride[a]),
            sC: K3,
          });
        }
        gemm(rt, {
          x: dy,
          p,
          bias: null,
          y: dx,
          B: g.B,
          Ci: g.Co,
          inDims: g.outDims,
          Co: g.Ci,
          coPad,
          count: ph3.map((q) => q.count),
          padBefore: ph3.map((q) => q.pad),
          outFull: g.inDims,
          latticeOffset: ph3.map((q) => q.r),
          spec: {
            K: M,
            S: [1, 1, 1],
            Dl: ph3.map((q) => q.dil),
            OS: g.stride,
            tco,
            tw: tileW(pw.count),
            bias: false,
            acc: false,
          },
        });
        free(p);
      }
    }
  }
}
