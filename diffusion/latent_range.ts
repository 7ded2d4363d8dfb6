/**
 * The range the (scaled) training latents occupy, per channel: low and high percentiles, recorded with the
 * diffusion checkpoint so sampling can clip x̂0 to where the data lives instead of to [−1, 1].
 */

/** Per-channel percentiles of latents [B, C, …]. */
export interface LatentRange {
  /** The percentiles taken, e.g. [0.5, 99.5]. */
  percentiles: [number, number];
  /** Low percentile per channel. */
  lo: number[];
  /** High percentile per channel. */
  hi: number[];
}

/** Percentiles `p` (in %) of each channel of `data` laid out as [B, C, …rest] (linear interpolation, as numpy). */
export function latentRange(
  data: Float32Array,
  shape: readonly number[],
  percentiles: [number, number] = [0.5, 99.5],
): LatentRange {
  const [B, C] = shape;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  if (B * C * inner !== data.length) {
    throw new Error(`latentRange: shape [${shape}] does not hold ${data.length} values`);
  }
  const lo: number[] = [], hi: number[] = [];
  for (let c = 0; c < C; c++) {
    const v = new Float32Array(B * inner);
    for (let b = 0; b < B; b++) v.set(data.subarray((b * C + c) * inner, (b * C + c + 1) * inner), b * inner);
    v.sort();
    lo.push(percentileOfSorted(v, percentiles[0]));
    hi.push(percentileOfSorted(v, percentiles[1]));
  }
  return { percentiles, lo, hi };
}

/** numpy.percentile's default ("linear") on sorted values. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  const pos = (p / 100) * (sorted.length - 1);
  const i = Math.floor(pos), f = pos - i;
  return i + 1 < sorted.length ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/** One interval holding every channel's range: the fused step kernel clamps with a single pair of bounds. */
export function rangeEnvelope(r: LatentRange): [number, number] {
  return [Math.min(...r.lo), Math.max(...r.hi)];
}
