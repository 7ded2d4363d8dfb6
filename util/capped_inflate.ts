/**
 * Decompression with an output cap, in plain TypeScript (fflate) so it runs in browsers too: the NIfTI reader's
 * gzip and the `.pt` reader's zip entries both stop a decompression bomb (or a lying header) early.
 *
 * @module
 */

/** Compressed bytes fed per push: bounds how far one push can overshoot the cap (DEFLATE expands ≤ ~1032×). */
const PUSH_BYTES = 1 << 14;

/** Thrown when the output would pass the cap. */
export class InflateLimitError extends Error {
  constructor(readonly limit: number) {
    super(`output exceeds ${limit} bytes`);
    this.name = "InflateLimitError";
  }
}

/** An fflate streaming decompressor. */
export type InflateStream = { push(chunk: Uint8Array, final?: boolean): void };

/**
 * Feeds `input` to the stream `make` builds around an output collector and returns the output; throws
 * {@link InflateLimitError} once it would exceed `maxBytes`. `final: false` inflates a prefix of a longer stream.
 */
export function inflateCapped(
  make: (ondata: (chunk: Uint8Array) => void) => InflateStream,
  input: Uint8Array,
  maxBytes: number,
  final = true,
): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const stream = make((chunk) => {
    total += chunk.length;
    if (total > maxBytes) throw new InflateLimitError(maxBytes);
    chunks.push(chunk);
  });
  if (input.length === 0) stream.push(input, final);
  for (let p = 0; p < input.length; p += PUSH_BYTES) {
    stream.push(input.subarray(p, p + PUSH_BYTES), final && p + PUSH_BYTES >= input.length);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) (out.set(c, o), o += c.length);
  return out;
}
