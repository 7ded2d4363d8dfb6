/** .pt reader on hand-built archives: strided views, dtypes, wrapped checkpoints, deflate, and clear errors. */
import assert from "node:assert/strict";
import { parseStateDict, readTorchStateDict, SerializationError } from "../../../nn/serialization/mod.ts";
import { makeZip, PickleBuilder } from "./helpers.ts";

const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const base = f32([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
const halves = new Uint8Array(new Uint16Array([0x3c00, 0xc100]).buffer); // 1, -2.5
const longs = new Uint8Array(new BigInt64Array([7n, -3n]).buffer);

/** `{"epoch": 3, "state_dict": OrderedDict(module.* tensors)}` over three storages. */
function wrappedCheckpoint(): Uint8Array {
  const p = new PickleBuilder();
  p.op(0x7d).mark().str("epoch").int(3).str("state_dict");
  p.global("collections", "OrderedDict").op(0x29, 0x52).mark();
  p.str("module.a").tensor("FloatStorage", "0", 12, 2, [2, 3], [3, 1]);
  p.str("module.at").tensor("FloatStorage", "0", 12, 0, [3, 2], [1, 3]);
  p.str("module.s").tensor("FloatStorage", "0", 12, 1, [5], [2]);
  p.str("module.e").tensor("FloatStorage", "0", 12, 4, [2, 2], [0, 1]);
  p.str("module.scalar").tensor("FloatStorage", "0", 12, 11, [], []);
  p.str("module.h").tensor("HalfStorage", "1", 2, 0, [2], [1]);
  p.str("module.l").tensor("LongStorage", "2", 2, 0, [1, 2], [2, 1]);
  p.op(0x75).op(0x75); // SETITEMS (inner dict), SETITEMS (outer dict)
  return p.bytes();
}

function archive(pkl: Uint8Array, deflateHalf = false, zip64 = false): Uint8Array {
  return makeZip([
    ["ckpt/data.pkl", pkl],
    ["ckpt/data/0", base],
    ["ckpt/data/1", halves, deflateHalf],
    ["ckpt/data/2", longs],
    ["ckpt/version", new TextEncoder().encode("3\n")],
  ], zip64);
}

Deno.test(".pt zip: strided/offset views, dtypes, {state_dict} unwrapping and module. stripping", () => {
  for (const [deflate, zip64] of [[false, false], [true, false], [false, true]]) {
    const sd = readTorchStateDict(archive(wrappedCheckpoint(), deflate, zip64), "hand.pt");
    assert.deepEqual([...sd.keys()], ["a", "at", "s", "e", "scalar", "h", "l"]);
    assert.deepEqual([...sd.get("a")!.data], [2, 3, 4, 5, 6, 7]);
    assert.deepEqual(sd.get("at")!.shape, [3, 2]);
    assert.deepEqual([...sd.get("at")!.data], [0, 3, 1, 4, 2, 5]);
    assert.deepEqual([...sd.get("s")!.data], [1, 3, 5, 7, 9]);
    assert.deepEqual([...sd.get("e")!.data], [4, 5, 4, 5]);
    assert.deepEqual(sd.get("scalar")!.shape, []);
    assert.deepEqual([...sd.get("scalar")!.data], [11]);
    assert.equal(sd.get("h")!.dtype, "float16");
    assert.deepEqual([...sd.get("h")!.data], [1, -2.5]);
    const l = sd.get("l")!;
    assert.equal(l.dtype, "int64");
    assert.ok(l.data instanceof Int32Array);
    assert.deepEqual([...l.data], [7, -3]);
  }
  const kept = readTorchStateDict(archive(wrappedCheckpoint()), "hand.pt", { stripModulePrefix: false });
  assert.ok(kept.has("module.a"));
});

Deno.test(".pt zip: ambiguous nesting needs options.entry", () => {
  const p = new PickleBuilder();
  p.op(0x7d).mark();
  for (const k of ["autoencoder", "discriminator"]) {
    p.str(k).op(0x7d).mark().str("w").tensor("FloatStorage", "0", 12, 0, [12], [1]).op(0x75);
  }
  p.op(0x75);
  const zip = archive(p.bytes());
  assert.throws(
    () => readTorchStateDict(zip, "two.pt"),
    /two\.pt: cannot tell which entry .*autoencoder, discriminator/,
  );
  const sd = readTorchStateDict(zip, "two.pt", { entry: ["discriminator"] });
  assert.deepEqual([...sd.get("w")!.data], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
});

function expectError(bytes: Uint8Array, re: RegExp): void {
  assert.throws(() => parseStateDict(bytes, "bad.pt"), (e: Error) => {
    assert.ok(e instanceof SerializationError, `not a SerializationError: ${e}`);
    assert.match(e.message, re);
    return true;
  });
}

Deno.test(".pt: unknown opcodes and non-whitelisted globals are refused, naming the file", () => {
  expectError(
    archive(new Uint8Array([0x80, 2, 0x49, 0x31, 0x0a, 0x2e])),
    /bad\.pt: pickle: unsupported opcode 0x49 'I' at offset 2/,
  );
  const evil = new PickleBuilder().global("os", "system").str("echo hi").op(0x85, 0x52).bytes();
  expectError(archive(evil), /bad\.pt: pickle: global 'os\.system' is not allowed/);
  const lambda = new PickleBuilder().global("builtins", "eval").bytes();
  expectError(archive(lambda), /global 'builtins\.eval' is not allowed/);
});

Deno.test(".pt: views beyond the storage, missing storages, CRC damage and truncation are clear errors", () => {
  const over = new PickleBuilder().op(0x7d).str("w").tensor("FloatStorage", "0", 12, 8, [5], [1]).op(0x73)
    .bytes();
  expectError(archive(over), /bad\.pt: tensor 'w': view .* exceeds its storage of 12 elements/);
  const missing = new PickleBuilder().op(0x7d).str("w").tensor("FloatStorage", "9", 4, 0, [4], [1]).op(0x73)
    .bytes();
  expectError(archive(missing), /bad\.pt: zip: entry 'ckpt\/data\/9' not found/);
  const zip = archive(wrappedCheckpoint());
  const damaged = zip.slice();
  const at = damaged.indexOf(0x41, wrappedCheckpoint().length + 40); // a byte inside storage 0 (float 8.0 = 0x41000000)
  damaged[at] ^= 0x10;
  expectError(damaged, /bad\.pt: zip: CRC-32 mismatch/);
  expectError(zip.subarray(0, zip.length - 30), /bad\.pt: truncated or corrupt zip archive/);
  expectError(
    makeZip([["x/other.txt", new Uint8Array(3)]]),
    /bad\.pt: zip archive has no <archive>\/data\.pkl/,
  );
  expectError(new Uint8Array([1, 2, 3]), /bad\.pt: truncated file/);
  expectError(
    new TextEncoder().encode("hello world, not a checkpoint"),
    /bad\.pt: unrecognised checkpoint format/,
  );
});
