/**
 * gzip and raw DEFLATE decompression for the NIfTI reader, in plain TypeScript (fflate), so it runs in browsers:
 * a capped whole-file inflate (decompression bombs stop early) and a prefix inflate for the header.
 */
import { Gunzip, Inflate } from "fflate";

/** Compressed bytes fed per push: bounds how far one push can overshoot a cap (DEFLATE expands ≤ ~1032×). */
const PUSH_BYTES = 1 << 14;

/** Thrown when the output would pass the cap. */
export class InflateLimitError extends Error {
  constructor(readonly limit: number) {
    super(`output exceeds ${limit} bytes`);
    this.name = "InflateLimitError";
  }
}

type Stream = { push(chunk: Uint8Array, final?: boolean): void };

/** Feeds `input` to a stream built around an output collector; returns the output, capped at `maxBytes`. */
function collect(
  make: (ondata: (chunk: Uint8Array) => void) => Stream,
  input: Uint8Array,
  maxBytes: number,
  final: boolean,
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

/** Decompresses a whole gzip file (all members); throws {@link InflateLimitError} past `maxBytes` of output. */
export function gunzipCapped(input: Uint8Array, maxBytes: number): Uint8Array {
  return collect((ondata) => new Gunzip(ondata), input, maxBytes, true);
}

/** What the first bytes of a raw DEFLATE stream inflate to (the stream may go on; nothing is checked past them). */
export function inflateRawPrefix(input: Uint8Array, maxBytes: number): Uint8Array {
  return collect((ondata) => new Inflate(ondata), input, maxBytes, false);
}
