/** The transform interface and composition (MONAI Compose, with the cacheable prefix split off). */
import type { Volume } from "../volume.ts";

/** One step of a preprocessing chain: `Volume → Volume`, with JSON parameters that key the on-disk cache. */
export interface Transform {
  /** Short name of the step (e.g. "spacing"). */
  readonly name: string;
  /** JSON-serialisable parameters; two transforms with equal name and params compute the same function. */
  readonly params: Record<string, unknown>;
  /** True when the output depends on a random stream (results are then never cached). */
  readonly random: boolean;
  /** Applies the step; never mutates the input. */
  apply(volume: Volume): Volume;
}

/** Chains transforms left to right; the result is random if any step is. */
export function compose(steps: Transform[]): Transform {
  return {
    name: "compose",
    params: { steps: steps.map((s) => ({ name: s.name, params: s.params })) },
    random: steps.some((s) => s.random),
    apply(volume: Volume): Volume {
      let v = volume;
      for (const s of steps) v = s.apply(v);
      return v;
    },
  };
}

/** Splits a chain at its first random step: the deterministic prefix (cacheable, like CacheDataset) and the rest. */
export function splitAtFirstRandom(steps: Transform[]): { deterministic: Transform[]; random: Transform[] } {
  const i = steps.findIndex((s) => s.random);
  return i < 0
    ? { deterministic: steps, random: [] }
    : { deterministic: steps.slice(0, i), random: steps.slice(i) };
}

/** Stable JSON text of a chain's names and parameters (the transform part of a cache key). */
export function describeChain(steps: Transform[]): string {
  return JSON.stringify(steps.map((s) => [s.name, sortKeys(s.params)]));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}
