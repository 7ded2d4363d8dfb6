/**
 * Fréchet distance between two sets of volumes on a fixed, documented feature set (no learned network:
 * none can be downloaded here, and a fixed set keeps numbers comparable across runs).
 *
 * Features per volume (16): the means of the 8 octants; the 5th, 25th, 50th, 75th and 95th intensity
 * percentiles; the standard deviation; the fraction of voxels above 0.1 (foreground); the mean gradient
 * magnitude (central differences). FD = ‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁^½ Σ₂ Σ₁^½)^½).
 */
import type { HostVolume } from "./image_quality.ts";

/** Number of features per volume. */
export const FEATURE_COUNT = 16;

/** The fixed feature vector of one volume (see the module doc). */
export function volumeFeatures(v: HostVolume): Float64Array {
  const [X, Y, Z] = v.shape, d = v.data;
  const f = new Float64Array(FEATURE_COUNT);
  const octSum = new Float64Array(8), octN = new Float64Array(8);
  let sum = 0, sumSq = 0, fg = 0, grad = 0;
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++) {
        const i = (x * Y + y) * Z + z, val = d[i];
        const o = (x >= X / 2 ? 4 : 0) + (y >= Y / 2 ? 2 : 0) + (z >= Z / 2 ? 1 : 0);
        octSum[o] += val;
        octN[o]++;
        sum += val;
        sumSq += val * val;
        if (val > 0.1) fg++;
        const gx = x > 0 && x < X - 1 ? (d[i + Y * Z] - d[i - Y * Z]) / 2 : 0;
        const gy = y > 0 && y < Y - 1 ? (d[i + Z] - d[i - Z]) / 2 : 0;
        const gz = z > 0 && z < Z - 1 ? (d[i + 1] - d[i - 1]) / 2 : 0;
        grad += Math.sqrt(gx * gx + gy * gy + gz * gz);
      }
    }
  }
  const n = d.length;
  for (let o = 0; o < 8; o++) f[o] = octN[o] ? octSum[o] / octN[o] : 0;
  const sorted = Float64Array.from(d).sort();
  [0.05, 0.25, 0.5, 0.75, 0.95].forEach((
    q,
    k,
  ) => (f[8 + k] = sorted[Math.min(n - 1, Math.floor(q * (n - 1)))]));
  const mean = sum / n;
  f[13] = Math.sqrt(Math.max(sumSq / n - mean * mean, 0));
  f[14] = fg / n;
  f[15] = grad / n;
  return f;
}

/** Symmetric eigen-decomposition by cyclic Jacobi rotations (small matrices). */
export function symmetricEigen(
  m: Float64Array[],
  sweeps = 100,
): { values: Float64Array; vectors: Float64Array[] } {
  const n = m.length;
  const a = m.map((r) => Float64Array.from(r));
  const v = Array.from(
    { length: n },
    (_, i) => Float64Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)),
  );
  for (let s = 0; s < sweeps; s++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), sn = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - sn * akq;
          a[k][q] = sn * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - sn * aqk;
          a[q][k] = sn * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - sn * vkq;
          v[k][q] = sn * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i][i]), vectors: v };
}

function sqrtPsd(m: Float64Array[]): Float64Array[] {
  const { values, vectors } = symmetricEigen(m);
  const n = m.length;
  return Array.from({ length: n }, (_, i) =>
    Float64Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i][k] * Math.sqrt(Math.max(values[k], 0)) * vectors[j][k];
      return s;
    }));
}

function matmul(a: Float64Array[], b: Float64Array[]): Float64Array[] {
  const n = a.length;
  return Array.from({ length: n }, (_, i) =>
    Float64Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i][k] * b[k][j];
      return s;
    }));
}

function stats(features: Float64Array[]): { mean: Float64Array; cov: Float64Array[] } {
  const n = features.length, d = features[0].length;
  const mean = new Float64Array(d);
  for (const f of features) for (let i = 0; i < d; i++) mean[i] += f[i] / n;
  const cov = Array.from({ length: d }, () => new Float64Array(d));
  for (const f of features) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) cov[i][j] += ((f[i] - mean[i]) * (f[j] - mean[j])) / Math.max(n - 1, 1);
    }
  }
  return { mean, cov };
}

/** Fréchet distance between two feature sets (rows = samples). */
export function frechetDistance(a: Float64Array[], b: Float64Array[]): number {
  if (a.length < 2 || b.length < 2) throw new Error("frechetDistance: each set needs at least two samples");
  const A = stats(a), B = stats(b);
  let d = 0;
  for (let i = 0; i < A.mean.length; i++) d += (A.mean[i] - B.mean[i]) ** 2;
  const sa = sqrtPsd(A.cov);
  const inner = sqrtPsd(matmul(matmul(sa, B.cov), sa));
  for (let i = 0; i < A.mean.length; i++) d += A.cov[i][i] + B.cov[i][i] - 2 * inner[i][i];
  return Math.max(d, 0);
}

/** Fréchet distance between two sets of volumes on the fixed feature set. */
export function volumeFrechetDistance(a: HostVolume[], b: HostVolume[]): number {
  return frechetDistance(a.map(volumeFeatures), b.map(volumeFeatures));
}
