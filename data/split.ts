/** Train/validation split exactly as MONAI's DecathlonDataset._split_datalist does it. */
import { MT19937 } from "./mt19937.ts";

/** Indices (into the dataset.json `training` list) of the validation and training sections. */
export interface SplitIndices {
  /** Validation indices, in shuffled order. */
  validation: number[];
  /** Training indices, in shuffled order. */
  training: number[];
}

/**
 * `indices = arange(n)`, `RandomState(seed).shuffle(indices)`, `valLength = int(n * valFrac)`: validation is the
 * first `valLength` shuffled indices, training the rest, both in shuffled order.
 */
export function splitIndices(n: number, seed = 0, valFrac = 0.2): SplitIndices {
  if (!Number.isInteger(n) || n < 0) throw new Error(`split: n must be a non-negative integer, got ${n}`);
  if (!(valFrac >= 0 && valFrac <= 1)) throw new Error(`split: valFrac must be in [0, 1], got ${valFrac}`);
  const idx = Array.from({ length: n }, (_, i) => i);
  new MT19937(seed).shuffle(idx);
  // Reference behaviour: Python int() truncation of n * val_frac (float64).
  const valLength = Math.trunc(n * valFrac);
  return { validation: idx.slice(0, valLength), training: idx.slice(valLength) };
}

/** The items of one section ("training" | "validation") of a datalist, in the reference's order. */
export function splitSection<T>(
  items: T[],
  section: "training" | "validation",
  seed = 0,
  valFrac = 0.2,
): T[] {
  const s = splitIndices(items.length, seed, valFrac);
  return (section === "training" ? s.training : s.validation).map((i) => items[i]);
}
