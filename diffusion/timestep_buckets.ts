/**
 * Denoising error per timestep bucket: a mean loss over uniform t hides where a model is still near chance
 * (small t, where samples get their detail); buckets show it.
 */

/** One bucket of timesteps [from, to) and the mean per-sample MSE of the evaluations that fell in it. */
export interface TimestepBucket {
  from: number;
  to: number;
  /** Mean MSE of the bucket (NaN when no evaluation fell in it). */
  mse: number;
  /** Evaluations in the bucket. */
  count: number;
}

/** Bucket edges for T training timesteps: [0, 100, 300, 600, 1000] at T = 1000, scaled with T otherwise. */
export function timestepBucketEdges(numTrainTimesteps: number): number[] {
  const edges = [0, 0.1, 0.3, 0.6, 1].map((f) => Math.round(f * numTrainTimesteps));
  return edges.filter((e, i) => i === 0 || e > edges[i - 1]);
}

/** Groups per-sample MSEs by their timestep into the buckets `edges` delimit (t outside [first, last) throws). */
export function bucketMse(
  timesteps: ArrayLike<number>,
  mse: ArrayLike<number>,
  edges: readonly number[],
): TimestepBucket[] {
  if (timesteps.length !== mse.length) {
    throw new Error(`bucketMse: ${timesteps.length} timesteps but ${mse.length} losses`);
  }
  const buckets = edges.slice(0, -1).map((from, i) => ({ from, to: edges[i + 1], sum: 0, count: 0 }));
  for (let k = 0; k < timesteps.length; k++) {
    const t = timesteps[k];
    const b = buckets.find((x) => t >= x.from && t < x.to);
    if (!b) throw new Error(`bucketMse: timestep ${t} lies outside [${edges[0]}, ${edges.at(-1)})`);
    b.sum += mse[k];
    b.count++;
  }
  return buckets.map(({ from, to, sum, count }) => ({ from, to, mse: count ? sum / count : NaN, count }));
}

/** "t∈[0,100) 0.412 · t∈[100,300) 0.081 · …" */
export function formatBuckets(buckets: readonly TimestepBucket[], digits = 4): string {
  return buckets.map((b) => `t∈[${b.from},${b.to}) ${b.mse.toFixed(digits)}`).join(" · ");
}
