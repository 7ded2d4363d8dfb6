/** Raw DEFLATE decompression with an output cap (zip entries), in plain TypeScript (fflate): works in browsers too. */
import { Inflate } from "fflate";

/** Compressed bytes fed per push: bounds how far one push can overshoot the cap (DEFLATE expands ≤ ~1032×). */
const PUSH_BYTES = 1 << 16;

/** Inflates raw DEFLATE `data`; throws once the output would exceed `maxBytes` (a zip bomb or a lying header). */
export function inflateRawCapped(data: Uint8Array, maxBytes: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const inflater = new Inflate((chunk) => {
    total += chunk.length;
    if (total > maxBytes) throw new Error(`output exceeds the expected ${maxBytes} bytes`);
    chunks.push(chunk);
  });
  if (data.length === 0) inflater.push(data, true);
  for (let p = 0; p < data.length; p += PUSH_BYTES) {
    inflater.push(data.subarray(p, p + PUSH_BYTES), p + PUSH_BYTES >= data.length);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) (out.set(c, o), o += c.length);
  return out;
}
