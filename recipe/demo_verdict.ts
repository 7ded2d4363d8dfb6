/**
 * The demo's verdict arithmetic: where generated samples land between an untrained UNet (the floor) and
 * autoencoder reconstructions (the ceiling) on the Fréchet distance, with a bootstrap interval over samples,
 * and an honest "undefined" when floor and ceiling do not bracket anything.
 *
 * Distances are taken in the autoencoder's output space, to reconstructions of held-out volumes: a latent
 * model's samples are decoder outputs, so decoded real latents are the best it can reach, and the diffusion
 * stage is what the verdict judges. (Measured against the raw volumes instead, the autoencoder's blur is a
 * shared offset of ceiling, samples and floor alike, ten times the diffusion stage's contribution, and the
 * verdict drowned in it.) The ceiling is an independent set of reconstructions, as large as the sample sets,
 * so it carries the same finite-sample bias as they do.
 *
 * That output space judges only when the autoencoder has learned something: an undertrained decoder maps
 * everything to one blob, and then any latents near the data's pass (a 1-epoch autoencoder with a 1-epoch UNet
 * "closed 93 %"). So the verdict is "undefined" unless the reconstructions are closer to the raw phantoms than
 * the untrained UNet's samples are, end to end.
 */
import { frechetDistance } from "../nn/metrics/frechet.ts";
import { philox4x32, streamId, toUnit } from "../tensor/mod.ts";

/** Per-volume feature rows of the four sets (nn/metrics' fixed features); each is resampled on its own. */
export interface VerdictFeatures {
  /** The held-out volumes themselves (the end-to-end distances and the autoencoder check). */
  real: Float64Array[];
  /** Autoencoder reconstructions of held-out volumes: every distance is measured to this set. */
  reference: Float64Array[];
  /** Reconstructions of other held-out volumes (as many as the samples): what a perfect latent model gives. */
  ceiling: Float64Array[];
  generated: Float64Array[];
  /** Samples of an untrained UNet. */
  floor: Float64Array[];
}

/** Settings of the verdict. */
export interface VerdictOptions {
  /** Bootstrap resamples (default 500). */
  resamples?: number;
  /** Seed of the bootstrap draws. */
  seed?: number;
  /** Two-sided interval level (default 0.95). */
  level?: number;
  /** "ok" needs the interval's lower bound at or above this fraction of the gap (default 0.25). */
  minGapClosed?: number;
}

/** The verdict: "ok", "training failed", or "undefined" (with the reason) when the gap does not exist. */
export interface Verdict {
  verdict: "ok" | "training failed" | "undefined";
  /** Why, in one sentence. */
  reason: string;
  frechet: { ceiling: number; generated: number; floor: number };
  /** The same sets' distances to the raw volumes (autoencoder error included; gates the verdict, see above). */
  endToEnd: { ceiling: number; generated: number; floor: number };
  /** Fraction of the floor-to-ceiling gap the samples close (null when undefined). */
  gapClosed: number | null;
  /**
   * Percentile-bootstrap interval of gapClosed (null when undefined). Resampled sets hold duplicates, which
   * inflate each FD a little, so the interval can sit slightly low: conservative for the verdict's lower bound.
   */
  interval: [number, number] | null;
  /** Resamples in which the gap existed (the interval is over these). */
  resamples: number;
  level: number;
}

/** Fraction of the gap closed, or the reason it is undefined. */
export function gapClosed(
  fd: { ceiling: number; generated: number; floor: number },
): { value: number } | { reason: string } {
  const gap = fd.floor - fd.ceiling;
  if (![fd.ceiling, fd.generated, fd.floor].every(Number.isFinite)) {
    return { reason: `a Fréchet distance is not finite (${JSON.stringify(fd)})` };
  }
  // A gap below a millionth of the distances is numerical noise, not a scale to measure against.
  if (!(gap > 1e-6 * Math.max(fd.floor, fd.ceiling, 1e-12))) {
    return {
      reason: `the ceiling (reconstructions, FD ${fd.ceiling.toPrecision(4)}) is not below the floor ` +
        `(untrained UNet, FD ${
          fd.floor.toPrecision(4)
        }): there is no gap to close, so the feature set or the ` +
        "autoencoder cannot tell real volumes from an untrained model's here",
    };
  }
  return { value: (fd.floor - fd.generated) / gap };
}

/** Percentile (0–1) of sorted values, linear interpolation. */
function quantile(sorted: number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos), f = pos - i;
  return i + 1 < sorted.length ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/** Indices drawn with replacement, keyed by (seed, set, resample): the same on every run. */
function resampleIndices(n: number, seed: number, set: number, b: number): number[] {
  const out: number[] = [];
  const key = streamId(`demo/bootstrap/${set}`);
  for (let i = 0; i < n; i += 4) {
    const r = philox4x32([i, b, key, 0], [seed >>> 0, set]);
    for (let k = 0; k < 4 && i + k < n; k++) out.push(Math.min(n - 1, Math.floor(toUnit(r[k]) * n)));
  }
  return out;
}

/** The verdict with its bootstrap interval (the four sets resampled independently). */
export function demoVerdict(f: VerdictFeatures, o: VerdictOptions = {}): Verdict {
  const B = o.resamples ?? 500, seed = o.seed ?? 0, level = o.level ?? 0.95, min = o.minGapClosed ?? 0.25;
  for (const [name, set] of Object.entries(f)) {
    if (set.length < 2) {
      throw new Error(`demoVerdict: the ${name} set needs at least 2 volumes, got ${set.length}`);
    }
  }
  const distances = (to: Float64Array[], s: Omit<VerdictFeatures, "real" | "reference">) => ({
    ceiling: frechetDistance(to, s.ceiling),
    generated: frechetDistance(to, s.generated),
    floor: frechetDistance(to, s.floor),
  });
  const fd = distances(f.reference, f), endToEnd = distances(f.real, f);
  const autoencoderLearned = endToEnd.ceiling < endToEnd.floor;
  const point: ReturnType<typeof gapClosed> = autoencoderLearned ? gapClosed(fd) : {
    reason: `the autoencoder's reconstructions are no closer to the held-out volumes (FD ${
      endToEnd.ceiling.toPrecision(4)
    }) than an untrained UNet's samples (FD ${
      endToEnd.floor.toPrecision(4)
    }): its output space cannot judge the diffusion stage; train the autoencoder longer`,
  };
  if ("reason" in point) {
    return {
      verdict: "undefined",
      reason: point.reason,
      frechet: fd,
      endToEnd,
      gapClosed: null,
      interval: null,
      resamples: 0,
      level,
    };
  }
  const pick = (set: Float64Array[], k: number, b: number) =>
    resampleIndices(set.length, seed, k, b).map((i) => set[i]);
  const values: number[] = [];
  for (let b = 0; b < B; b++) {
    const g = gapClosed(distances(pick(f.reference, 0, b), {
      generated: pick(f.generated, 1, b),
      floor: pick(f.floor, 2, b),
      ceiling: pick(f.ceiling, 3, b),
    }));
    if ("value" in g) values.push(g.value);
  }
  values.sort((a, b) => a - b);
  const interval: [number, number] | null = values.length
    ? [quantile(values, (1 - level) / 2), quantile(values, (1 + level) / 2)]
    : null;
  const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
  const ok = interval !== null && point.value > 0 && interval[0] >= min;
  return {
    verdict: ok ? "ok" : "training failed",
    reason: ok
      ? `samples close ${pct(point.value)} of the floor-to-ceiling gap; the ${
        pct(level)
      } bootstrap interval's lower bound ${pct(interval![0])} is at least ${pct(min)}`
      : interval === null
      ? "no bootstrap resample had a gap between floor and ceiling"
      : `samples close ${pct(point.value)} of the gap, but the ${
        pct(level)
      } bootstrap interval's lower bound ${pct(interval[0])} is below the ${pct(min)} needed`,
    frechet: fd,
    endToEnd,
    gapClosed: point.value,
    interval,
    resamples: values.length,
    level,
  };
}
