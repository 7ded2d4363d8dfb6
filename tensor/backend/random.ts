/** Keys of the counter-based generator (Philox4x32-10): a draw is addressed by key and counter, never call order. */

/** Distribution of a random draw. */
export type RandomKind = "uniform" | "normal" | "randint";

/** Where a draw comes from: seed, stream name hash, step, and the global index of the first sample. */
export interface RandomKey {
  seed: number;
  stream: number;
  step: number;
  sampleOffset: number;
  /** Extra counter word (lets one op draw several independent tensors). */
  lane?: number;
}
