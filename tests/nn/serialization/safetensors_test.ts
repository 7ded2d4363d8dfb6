/** safetensors: round trip, header layout, f16/bf16/i64 reading, atomic save, and clear errors. */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertFinite,
  floatToHalf,
  halfToFloat,
  loadSafetensors,
  loadStateDictFile,
  readSafetensors,
  saveSafetensors,
  SerializationError,
  type StateDict,
  writeFileAtomic,
  writeSafetensors,
} from "../../../nn/serialization/mod.ts";

/** Builds a safetensors file by hand from a header object and a data section. */
function handMade(header: Record<string, unknown>, data: Uint8Array, pad = true): Uint8Array {
  let json = new TextEncoder().encode(JSON.stringify(header));
  if (pad && json.length % 8) {
    const p = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function sample(): StateDict {
  return new Map([
    ["b.weight", {
      dtype: "float32" as const,
      shape: [2, 3],
      data: new Float32Array([1, -2.5, 3e-8, 0, -0, 1e30]),
    }],
    ["a.index", {
      dtype: "int32" as const,
      shape: [4],
      data: new Int32Array([0, -1, 2147483647, -2147483648]),
    }],
    ["scalar", { dtype: "float32" as const, shape: [], data: new Float32Array([Math.PI]) }],
    ["empty", { dtype: "float32" as const, shape: [0, 5], data: new Float32Array(0) }],
  ]);
}

Deno.test("safetensors: write → read round trip keeps order, dtypes, bits and metadata", () => {
  const sd = sample();
  const bytes = writeSafetensors(sd, { format: "pt", note: "hello" });
  const { tensors, metadata } = readSafetensors(bytes, "mem");
  assert.deepEqual(metadata, { format: "pt", note: "hello" });
  assert.deepEqual([...tensors.keys()], [...sd.keys()]);
  for (const [k, t] of sd) {
    const r = tensors.get(k)!;
    assert.equal(r.dtype, t.dtype);
    assert.deepEqual(r.shape, t.shape);
    assert.deepEqual(
      new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
      new Uint8Array(t.data.buffer),
    );
  }
});

Deno.test("safetensors: header is 8-byte aligned and padded with spaces", () => {
  const bytes = writeSafetensors(sample(), { x: "y" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.match(text, /^\{.*\} *$/);
  const header = JSON.parse(text);
  assert.deepEqual(header.__metadata__, { x: "y" });
  assert.equal(header["b.weight"].dtype, "F32");
  assert.equal(header["a.index"].dtype, "I32");
  assert.deepEqual(header["b.weight"].data_offsets, [0, 24]);
});

Deno.test("safetensors: reads F16 and BF16 (widened to float32) and I64 (narrowed to int32)", () => {
  const halves = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x3555]; // 1, -2, 65504, 2^-24, -0, ~0.333
  const bf = [0x3f80, 0xc040, 0x4049]; // 1, -3, 3.140625
  const data = new Uint8Array(12 + 6 + 16);
  const dv = new DataView(data.buffer);
  halves.forEach((h, i) => dv.setUint16(2 * i, h, true));
  bf.forEach((h, i) => dv.setUint16(12 + 2 * i, h, true));
  dv.setBigInt64(18, -5n, true);
  dv.setBigInt64(26, 2147483647n, true);
  const file = handMade({
    "__metadata__": { k: "v" },
    "h": { dtype: "F16", shape: [2, 3], data_offsets: [0, 12] },
    "b": { dtype: "BF16", shape: [3], data_offsets: [12, 18] },
    "i": { dtype: "I64", shape: [2], data_offsets: [18, 34] },
  }, data);
  const { tensors, metadata } = readSafetensors(file, "hand.safetensors");
  assert.deepEqual(metadata, { k: "v" });
  const h = tensors.get("h")!;
  assert.equal(h.dtype, "float16");
  assert.ok(h.data instanceof Float32Array);
  assert.deepEqual([...h.data], [1, -2, 65504, 2 ** -24, -0, halfToFloat(0x3555)]);
  assert.ok(Math.abs(h.data[5] - 1 / 3) < 1e-3);
  assert.ok(Object.is(h.data[4], -0));
  const b = tensors.get("b")!;
  assert.equal(b.dtype, "bfloat16");
  assert.deepEqual([...b.data], [1, -3, 3.140625]);
  const i = tensors.get("i")!;
  assert.equal(i.dtype, "int64");
  assert.ok(i.data instanceof Int32Array);
  assert.deepEqual([...i.data], [-5, 2147483647]);
  // Order follows the data offsets (file order).
  assert.deepEqual([...tensors.keys()], ["h", "b", "i"]);
});

Deno.test("safetensors: I64 values beyond int32 are an error naming file and tensor", () => {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setBigInt64(0, 2147483648n, true);
  const file = handMade({ big: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, data);
  assert.throws(() => readSafetensors(file, "big.safetensors"), (e: Error) => {
    assert.ok(e instanceof SerializationError);
    assert.match(e.message, /big\.safetensors.*'big'.*2147483648.*int32/);
    return true;
  });
});

Deno.test("halfToFloat/floatToHalf: every finite half round-trips", () => {
  for (let h = 0; h < 0x10000; h++) {
    const f = halfToFloat(h);
    if (Number.isNaN(f)) continue;
    assert.equal(floatToHalf(f), h, `half 0x${h.toString(16)}`);
  }
  assert.equal(floatToHalf(65520), 0x7c00); // rounds to +Inf
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // tie to even
});

Deno.test("safetensors: errors name the file (truncated, bad JSON, offsets out of range, size mismatch)", () => {
  const good = writeSafetensors(sample());
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, 5), /t\.st: truncated/],
    [good.subarray(0, 20), /t\.st: truncated .*header length/],
    [good.subarray(0, good.length - 4), /t\.st: tensor '.*': data_offsets .* out of range/],
    [
      handMade({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8), false).map((
        b,
        i,
      ) => (i === 9 ? 0x5d : b)),
      /t\.st: bad safetensors header JSON/,
    ],
    [
      handMade({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /t\.st: tensor 'a': data_offsets span 8 bytes/,
    ],
    [
      handMade({ a: { dtype: "Q8", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(8)),
      /t\.st: tensor 'a': unsupported dtype "Q8"/,
    ],
    [
      handMade({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }, new Uint8Array(8)),
      /overlap/,
    ],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => readSafetensors(bytes, "t.st"), (e: Error) => {
      assert.ok(e instanceof SerializationError, `${e}`);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("saveSafetensors/writeFileAtomic: atomic write, no temp files left, loadable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "w.safetensors");
    await Deno.writeTextFile(path, "old contents");
    await saveSafetensors(path, sample(), { step: "3" });
    const { tensors, metadata } = await loadSafetensors(path);
    assert.equal(metadata.step, "3");
    assert.equal(tensors.size, 4);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["w.safetensors"]);
    await writeFileAtomic(join(dir, "x.bin"), new Uint8Array([1, 2, 3]));
    assert.deepEqual(Deno.readFileSync(join(dir, "x.bin")), new Uint8Array([1, 2, 3]));
    await assert.rejects(writeFileAtomic(join(dir, "missing", "y.bin"), new Uint8Array(1)));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["w.safetensors", "x.bin"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("assertFinite / loadStateDictFile: NaN and Inf are reported with the first key", async () => {
  const sd: StateDict = new Map([
    ["ok", { dtype: "float32" as const, shape: [2], data: new Float32Array([1, 2]) }],
    ["bad", { dtype: "float32" as const, shape: [3], data: new Float32Array([0, NaN, Infinity]) }],
    ["worse", { dtype: "float32" as const, shape: [1], data: new Float32Array([-Infinity]) }],
  ]);
  assert.throws(
    () => assertFinite(sd, "f.safetensors"),
    /f\.safetensors: tensor 'bad' contains NaN at element 1/,
  );
  assert.throws(
    () => assertFinite(new Map([["w", sd.get("worse")!]]), "g"),
    /g: tensor 'w' contains -Infinity at element 0/,
  );
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "nan.safetensors");
    await saveSafetensors(path, sd);
    await assert.rejects(loadStateDictFile(path), /nan\.safetensors: tensor 'bad' contains NaN/);
    const loaded = await loadStateDictFile(path, { checkFinite: false });
    assert.ok(Number.isNaN(loaded.get("bad")!.data[1]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomic write: a failed write names the file and leaves the previous version and no temp file", async () => {
  const { writeFileAtomic } = await import("../../../nn/serialization/atomic.ts");
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/ckpt.safetensors`;
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    // A directory squatting on the temp-file rename target makes the rename fail like a full disk would.
    await Deno.remove(path);
    await Deno.mkdir(`${path}`);
    await Deno.writeFile(`${path}/keep`, new Uint8Array([9]));
    await assert.rejects(
      () => writeFileAtomic(path, new Uint8Array([4, 5])),
      /ckpt\.safetensors: could not write .*untouched/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ckpt.safetensors"]);
    assert.deepEqual([...await Deno.readFile(`${path}/keep`)], [9]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
