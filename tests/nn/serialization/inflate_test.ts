import assert from "node:assert/strict";
import { deflateRawSync } from "node:zlib";
import { inflateRawCapped } from "../../../nn/serialization/inflate.ts";

Deno.test("inflateRawCapped: exact output at the cap; past it an error, not the whole bomb", () => {
  const plain = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
  const packed = new Uint8Array(deflateRawSync(plain));
  assert.deepEqual(inflateRawCapped(packed, plain.length), plain);
  assert.throws(() => inflateRawCapped(packed, plain.length - 1), /exceeds the expected 299999 bytes/);
  // 64 MiB of zeros compress to ~64 KiB: a cap of 1 MiB stops long before the end.
  const bomb = new Uint8Array(deflateRawSync(new Uint8Array(64 << 20)));
  assert.throws(() => inflateRawCapped(bomb, 1 << 20), /exceeds/);
  assert.throws(() => inflateRawCapped(packed.subarray(0, packed.length >> 1), plain.length));
});
