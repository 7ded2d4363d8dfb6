/**
 * Image-quality metrics on host volumes ([X, Y, Z], row-major): PSNR, 3D SSIM and multi-scale 3D SSIM,
 * as the generative-MRI literature reports them (Gaussian window σ 1.5, size 11, K1 0.01, K2 0.03).
 */

/** A 3D volume on the host. */
export interface HostVolume {
  /** Voxel values, C-order. */
  data: Float32Array;
  /** [X, Y, Z]. */
  shape: [number, number, number];
}

/** Peak signal-to-noise ratio in dB for a given data range. */
export function psnr(a: HostVolume, b: HostVolume, dataRange = 1): number {
  sameShape("psnr", a, b);
  let mse = 0;
  for (let i = 0; i < a.data.length; i++) mse += (a.data[i] - b.data[i]) ** 2;
  mse /= a.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10((dataRange * dataRange) / mse);
}

function sameShape(op: string, a: HostVolume, b: HostVolume): void {
  if (a.shape.join() !== b.shape.join()) {
    throw new Error(`${op}: shapes [${a.shape}] and [${b.shape}] differ`);
  }
}

function gaussianKernel(size: number, sigma: number): Float64Array {
  const k = new Float64Array(size);
  const c = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) s += k[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
  return k.map((v) => v / s);
}

// Separable 'valid' filtering along each axis.
function filter3d(
  v: Float64Array,
  shape: number[],
  k: Float64Array,
): { data: Float64Array; shape: number[] } {
  let data = v, cur = [...shape];
  for (let axis = 0; axis < 3; axis++) {
    const n = cur[axis] - k.length + 1;
    const next = [...cur];
    next[axis] = n;
    const out = new Float64Array(next[0] * next[1] * next[2]);
    const sIn = [cur[1] * cur[2], cur[2], 1], sOut = [next[1] * next[2], next[2], 1];
    for (let x = 0; x < next[0]; x++) {
      for (let y = 0; y < next[1]; y++) {
        for (let z = 0; z < next[2]; z++) {
          const base = x * sIn[0] + y * sIn[1] + z * sIn[2];
          let acc = 0;
          for (let t = 0; t < k.length; t++) acc += k[t] * data[base + t * sIn[axis]];
          out[x * sOut[0] + y * sOut[1] + z * sOut[2]] = acc;
        }
      }
    }
    data = out;
    cur = next;
  }
  return { data, shape: cur };
}

/** Mean SSIM and mean contrast-structure term over the valid region (window shrinks for small volumes). */
function ssimParts(a: HostVolume, b: HostVolume, dataRange: number): { ssim: number; cs: number } {
  const size = Math.min(11, ...a.shape.map((d) => (d % 2 ? d : d - 1)));
  const k = gaussianKernel(size, 1.5 * (size / 11));
  const A = Float64Array.from(a.data), B = Float64Array.from(b.data);
  const f = (v: Float64Array) => filter3d(v, a.shape, k).data;
  const muA = f(A), muB = f(B);
  const aa = f(A.map((v) => v * v)), bb = f(B.map((v) => v * v)), ab = f(A.map((v, i) => v * B[i]));
  const c1 = (0.01 * dataRange) ** 2, c2 = (0.03 * dataRange) ** 2;
  let ssim = 0, cs = 0;
  for (let i = 0; i < muA.length; i++) {
    const sA = aa[i] - muA[i] ** 2, sB = bb[i] - muB[i] ** 2, sAB = ab[i] - muA[i] * muB[i];
    const csI = (2 * sAB + c2) / (sA + sB + c2);
    cs += csI;
    ssim += ((2 * muA[i] * muB[i] + c1) / (muA[i] ** 2 + muB[i] ** 2 + c1)) * csI;
  }
  return { ssim: ssim / muA.length, cs: cs / muA.length };
}

/** Structural similarity of two volumes (Gaussian window). */
export function ssim3d(a: HostVolume, b: HostVolume, dataRange = 1): number {
  sameShape("ssim3d", a, b);
  return ssimParts(a, b, dataRange).ssim;
}

function downsample2(v: HostVolume): HostVolume {
  const shape = v.shape.map((d) => Math.floor(d / 2)) as [number, number, number];
  const out = new Float32Array(shape[0] * shape[1] * shape[2]);
  const [, Y, Z] = v.shape;
  for (let x = 0; x < shape[0]; x++) {
    for (let y = 0; y < shape[1]; y++) {
      for (let z = 0; z < shape[2]; z++) {
        let s = 0;
        for (let d = 0; d < 8; d++) {
          s += v.data[((2 * x + (d >> 2)) * Y + 2 * y + ((d >> 1) & 1)) * Z + 2 * z + (d & 1)];
        }
        out[(x * shape[1] + y) * shape[2] + z] = s / 8;
      }
    }
  }
  return { data: out, shape };
}

/** Standard MS-SSIM weights (Wang et al. 2003), truncated to the scales the volume allows. */
const MS_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

/**
 * Multi-scale SSIM: contrast-structure at each scale, luminance at the coarsest; uses as many scales as
 * keep every side ≥ 7 voxels (weights renormalised), so small volumes still get a defined value.
 */
export function msSsim3d(a: HostVolume, b: HostVolume, dataRange = 1): number {
  sameShape("msSsim3d", a, b);
  let scales = 1;
  while (scales < MS_WEIGHTS.length && Math.min(...a.shape) / 2 ** scales >= 7) scales++;
  const w = MS_WEIGHTS.slice(0, scales);
  const wSum = w.reduce((x, y) => x + y, 0);
  let result = 1;
  let x = a, y = b;
  for (let s = 0; s < scales; s++) {
    const { ssim, cs } = ssimParts(x, y, dataRange);
    const term = s === scales - 1 ? ssim : cs;
    result *= Math.pow(Math.max(term, 1e-6), w[s] / wSum);
    if (s < scales - 1) {
      x = downsample2(x);
      y = downsample2(y);
    }
  }
  return result;
}

/** Mean pairwise MS-SSIM of a set of volumes (sample diversity: lower is more diverse). */
export function meanPairwiseMsSsim(volumes: HostVolume[], dataRange = 1): number {
  let s = 0, n = 0;
  for (let i = 0; i < volumes.length; i++) {
    for (let j = i + 1; j < volumes.length; j++) {
      s += msSsim3d(volumes[i], volumes[j], dataRange);
      n++;
    }
  }
  if (n === 0) throw new Error("meanPairwiseMsSsim: needs at least two volumes");
  return s / n;
}
