/** Legacy (non-zip) torch.save format on hand-built files: storage order, wrapping, and clear errors. */
import assert from "node:assert/strict";
import { parseStateDict, SerializationError } from "../../../nn/serialization/mod.ts";
import { PickleBuilder } from "./helpers.ts";

const MAGIC = [0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];

function sysInfo(littleEndian: boolean): Uint8Array {
  return new PickleBuilder().op(0x7d).mark().str("protocol_version").int(1001).str("little_endian")
    .op(littleEndian ? 0x88 : 0x89).op(0x75).bytes();
}

function storage(count: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setBigInt64(0, BigInt(count), true);
  out.set(body, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

/** `{"model": OrderedDict(w: float32 view, b: int64)}`; storages written in the order "b", "w". */
function legacyFile(opts: { littleEndian?: boolean; magic?: number[]; truncate?: number } = {}): Uint8Array {
  const main = new PickleBuilder().op(0x7d).str("model").global("collections", "OrderedDict").op(0x29, 0x52)
    .mark()
    .str("w").tensor("FloatStorage", "140001", 6, 1, [2, 2], [1, 2], true)
    .str("b").tensor("LongStorage", "140002", 2, 0, [2], [1], true)
    .op(0x75).op(0x73).bytes();
  const keys = new PickleBuilder().mark().str("140002").str("140001").op(0x6c).bytes();
  const parts = [
    new Uint8Array(opts.magic ?? MAGIC),
    new PickleBuilder().op(0x4d, 0xe9, 0x03).bytes(),
    sysInfo(opts.littleEndian ?? true),
    main,
    keys,
    storage(2, new Uint8Array(new BigInt64Array([-1n, 42n]).buffer)),
    storage(6, new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer)),
  ];
  const all = concat(parts);
  return opts.truncate ? all.subarray(0, all.length - opts.truncate) : all;
}

Deno.test("legacy .pt: storages in key-list order, strided view, int64, {model} unwrapping", () => {
  const { stateDict, format } = parseStateDict(legacyFile(), "old.pt");
  assert.equal(format, "torch-legacy");
  assert.deepEqual([...stateDict.keys()], ["w", "b"]);
  // offset 1, size [2, 2], stride [1, 2] over [0..5] → [[1, 3], [2, 4]]
  assert.deepEqual([...stateDict.get("w")!.data], [1, 3, 2, 4]);
  assert.deepEqual([...stateDict.get("b")!.data], [-1, 42]);
  assert.equal(stateDict.get("b")!.dtype, "int64");
});

Deno.test("legacy .pt: bad magic, big-endian, truncated storages are clear errors", () => {
  const cases: [Uint8Array, RegExp][] = [
    [
      legacyFile({ magic: [...MAGIC.slice(0, 5), 0x00, ...MAGIC.slice(6)] }),
      /old\.pt: not a torch\.save file \(bad legacy magic/,
    ],
    [legacyFile({ littleEndian: false }), /old\.pt: big-endian legacy checkpoints are not supported/],
    [legacyFile({ truncate: 3 }), /old\.pt: truncated file: storage '140001' needs 24 bytes/],
    [legacyFile({ truncate: 30 }), /old\.pt: truncated file: size of storage '140001' missing/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => parseStateDict(bytes, "old.pt"), (e: Error) => {
      assert.ok(e instanceof SerializationError, String(e));
      assert.match(e.message, re);
      return true;
    });
  }
});
