/** Percentile intensity scaling (MONAI ScaleIntensityRangePercentilesd) with MONAI's percentile() arithmetic. */
import type { Volume } from "../volume.ts";
import type { Transform } from "./transform.ts";

const f32 = Math.fround;
const bits = new Uint32Array(1);
const bitsF = new Float32Array(bits.buffer);

function keyOf(u: number): number {
  return (u & 0x80000000) ? (~u) >>> 0 : (u | 0x80000000) >>> 0;
}

function valueOfKey(key: number): number {
  bits[0] = (key & 0x80000000) ? (key & 0x7fffffff) : (~key) >>> 0;
  return bitsF[0];
}

/** k-th smallest value (0-based) of a float32 array in O(n), by a two-pass radix select on the sortable bit patterns. */
export function kthSmallest(data: Float32Array, k: number): number {
  const n = data.length;
  if (!(k >= 0 && k < n)) throw new Error(`kthSmallest: k = ${k} out of range for ${n} values`);
  const u = new Uint32Array(data.buffer, data.byteOffset, n);
  const hi = new Uint32Array(65536);
  for (let i = 0; i < n; i++) hi[keyOf(u[i]) >>> 16]++;
  let bin = 0, before = 0;
  while (before + hi[bin] <= k) before += hi[bin++];
  const lo = new Uint32Array(65536);
  for (let i = 0; i < n; i++) {
    const key = keyOf(u[i]);
    if (key >>> 16 === bin) lo[key & 0xffff]++;
  }
  let r = k - before, l = 0;
  while (lo[l] <= r) r -= lo[l++];
  return valueOfKey(((bin << 16) | l) >>> 0);
}

/** Minimum of an array. */
function minOf(data: Float32Array): number {
  let m = Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] < m) m = data[i];
  return m;
}

/**
 * MONAI `percentile(x, q)` (q in [0, 100]) as a float32 value: `torch.quantile` in float32 when numel ≤ 1e6
 * (float32 rank and lerp), `np.percentile` (linear, float64) cast to float32 above that.
 */
export function percentile(data: Float32Array, q: number): number {
  const n = data.length;
  if (n === 0) throw new Error("percentile: empty input");
  if (!(q >= 0 && q <= 100)) throw new Error(`percentile: q must be in [0, 100], got ${q}`);
  const at = (k: number) => (k === 0 ? minOf(data) : kthSmallest(data, k));
  if (n <= 1_000_000) {
    // Reference behaviour: torch.quantile on float32 — rank and interpolation rounded to float32.
    const rank = f32(f32(q / 100) * (n - 1));
    const below = Math.trunc(rank), above = Math.ceil(rank);
    const w = f32(rank - below);
    const a = at(below), b = below === above ? a : at(above);
    const diff = f32(b - a);
    return w < 0.5 ? f32(a + f32(w * diff)) : f32(b - f32(diff * f32(1 - w)));
  }
  // Reference behaviour: numpy's linear method, virtual index n*q + (1 - q) - 1 in float64.
  const qd = q / 100;
  const virt = n * qd + (1 - qd) - 1;
  if (virt >= n - 1) return at(n - 1);
  if (virt <= 0) return at(0);
  const prev = Math.floor(virt);
  const gamma = virt - prev;
  const a = at(prev), b = at(prev + 1);
  const diff = f32(b - a); // float32 scalars subtract in float32
  return f32(gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma);
}

/** Options of {@link scaleIntensityRangePercentiles} (MONAI names, camelCased). */
export interface PercentileScalingOptions {
  /** Lower percentile (0..100), mapped to bMin. */
  lower: number;
  /** Upper percentile (0..100), mapped to bMax. */
  upper: number;
  /** Output value of the lower percentile. */
  bMin: number;
  /** Output value of the upper percentile. */
  bMax: number;
  /** Clamp the output to [bMin, bMax] (default false). */
  clip?: boolean;
}

/**
 * Maps percentile `lower` → `bMin` and `upper` → `bMax` over all voxels of the volume (channel_wise=False),
 * float32 arithmetic, not clipped unless `clip`. Equal percentiles give `x - aMin + bMin` (no division).
 */
export function scaleIntensityRangePercentiles(
  opts: PercentileScalingOptions = { lower: 0, upper: 99.5, bMin: 0, bMax: 1 },
): Transform {
  const { lower, upper, bMin, bMax } = opts;
  const clip = opts.clip ?? false;
  return {
    name: "scaleIntensityRangePercentiles",
    params: { lower, upper, bMin, bMax, clip },
    random: false,
    apply(v: Volume): Volume {
      const aMin = percentile(v.data, lower), aMax = percentile(v.data, upper);
      return {
        ...v,
        data: scaleRange(v.data, aMin, aMax, bMin, bMax, clip),
        affine: v.affine.map((r) => r.slice()),
      };
    },
  };
}

/** MONAI ScaleIntensityRange in float32: `(x - aMin) / (aMax - aMin) * (bMax - bMin) + bMin`. */
export function scaleRange(
  x: Float32Array,
  aMin: number,
  aMax: number,
  bMin: number,
  bMax: number,
  clip = false,
): Float32Array {
  const out = new Float32Array(x.length);
  const lo = f32(aMin), den = f32(f32(aMax) - lo);
  if (den === 0) {
    for (let i = 0; i < x.length; i++) out[i] = f32(x[i] - lo) + bMin;
  } else if (bMin === 0 && bMax === 1) {
    for (let i = 0; i < x.length; i++) out[i] = f32(x[i] - lo) / den;
  } else {
    const span = f32(bMax - bMin);
    for (let i = 0; i < x.length; i++) out[i] = f32(f32(f32(x[i] - lo) / den) * span) + bMin;
  }
  if (clip) { for (let i = 0; i < out.length; i++) out[i] = Math.min(Math.max(out[i], bMin), bMax); }
  return out;
}
