/**
 * gzip and raw DEFLATE decompression for the NIfTI reader, in plain TypeScript (fflate), so it runs in browsers:
 * a capped whole-file inflate (decompression bombs stop early) and a prefix inflate for the header.
 */
import { Gunzip, Inflate } from "fflate";
import { inflateCapped } from "../util/capped_inflate.ts";

export { InflateLimitError } from "../util/capped_inflate.ts";

/** Decompresses a whole gzip file (all members); throws {@link InflateLimitError} past `maxBytes` of output. */
export function gunzipCapped(input: Uint8Array, maxBytes: number): Uint8Array {
  return inflateCapped((ondata) => new Gunzip(ondata), input, maxBytes);
}

/** What the first bytes of a raw DEFLATE stream inflate to (the stream may go on; nothing is checked past them). */
export function inflateRawPrefix(input: Uint8Array, maxBytes: number): Uint8Array {
  return inflateCapped((ondata) => new Inflate(ondata), input, maxBytes, false);
}
