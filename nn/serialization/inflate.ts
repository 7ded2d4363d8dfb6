/** Raw DEFLATE decompression with an output cap (zip entries), in plain TypeScript (fflate): works in browsers too. */
import { Inflate } from "fflate";
import { inflateCapped, InflateLimitError } from "../../util/capped_inflate.ts";

/** Inflates raw DEFLATE `data`; throws once the output would exceed `maxBytes` (a zip bomb or a lying header). */
export function inflateRawCapped(data: Uint8Array, maxBytes: number): Uint8Array {
  try {
    return inflateCapped((ondata) => new Inflate(ondata), data, maxBytes);
  } catch (e) {
    if (e instanceof InflateLimitError) throw new Error(`output exceeds the expected ${maxBytes} bytes`);
    throw e;
  }
}
