import assert from "node:assert/strict";
import { deflateRawSync, gzipSync } from "node:zlib";
import { gunzipCapped, InflateLimitError, inflateRawPrefix } from "../../data/gzip.ts";

const plain = new Uint8Array(200_000).map((_, i) => (i * 13) % 253);

Deno.test("gunzipCapped: node's gzip (and two members) back exactly; past the cap an InflateLimitError", () => {
  const gz = new Uint8Array(gzipSync(plain));
  assert.deepEqual(gunzipCapped(gz, plain.length), plain);
  const two = new Uint8Array([...gz, ...gz]);
  assert.deepEqual(gunzipCapped(two, 2 * plain.length), new Uint8Array([...plain, ...plain]));
  assert.throws(() => gunzipCapped(gz, plain.length - 1), InflateLimitError);
  assert.throws(() => gunzipCapped(gz.subarray(0, gz.length - 100), plain.length));
});

Deno.test("inflateRawPrefix: the first bytes of a stream from a prefix of its compressed data", () => {
  const raw = new Uint8Array(deflateRawSync(plain));
  const head = inflateRawPrefix(raw.subarray(0, 1024), 1 << 22);
  assert.ok(head.length >= 348, `only ${head.length} bytes`);
  assert.deepEqual(head, plain.subarray(0, head.length));
});
