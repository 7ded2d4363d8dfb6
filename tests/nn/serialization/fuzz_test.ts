/** Fuzz: byte flips and truncations of real checkpoints give either a valid result or our SerializationError, never a hang or a stray exception. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureExists, fixturesRoot, readFixture } from "../../fixtures.ts";
import { parseStateDict, SerializationError, writeSafetensors } from "../../../nn/serialization/mod.ts";
import { openZip } from "../../../nn/serialization/zip.ts";
import { makeZip, PickleBuilder } from "./helpers.ts";

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutations(bytes: Uint8Array, seed: number, count: number, region = bytes.length): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 4;
    if (kind === 0) {
      out.push(bytes.subarray(0, Math.floor(r() * bytes.length)));
    } else {
      const m = bytes.slice();
      const flips = kind === 3 ? 1 + Math.floor(r() * 8) : 1;
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(r() * Math.min(region, m.length));
        m[at] = kind === 1 ? m[at] ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
      }
      out.push(m);
    }
  }
  return out;
}

function check(inputs: Uint8Array[], label: string): { ok: number; errors: number } {
  let ok = 0, errors = 0;
  for (const [i, b] of inputs.entries()) {
    try {
      const sd = parseStateDict(b, label, { checkFinite: false });
      assert.ok(sd.stateDict instanceof Map);
      ok++;
    } catch (e) {
      if (!(e instanceof SerializationError)) {
        assert.fail(`${label} mutation #${i}: stray ${(e as Error).name}: ${(e as Error).message}`);
      }
      assert.ok(e.message.startsWith(`${label}: `), e.message);
      errors++;
    }
  }
  return { ok, errors };
}

function read(rel: string): Uint8Array | null {
  const path = join(fixturesRoot(), rel);
  return fixtureExists(path) ? readFixture(path) : null;
}

const small = read("group_norm/model.pt");
const smallSt = read("group_norm/model.safetensors");
const legacy = read("autoencoderkl_tiny/model_legacy.pt");

Deno.test({
  name: "fuzz: safetensors flips/truncations",
  ignore: smallSt === null,
  fn() {
    const r = check(mutations(smallSt!, 1, 600), "f.safetensors");
    assert.ok(r.errors > 0);
  },
});

Deno.test({
  name: "fuzz: .pt zip flips/truncations (CRC and structure checks)",
  ignore: small === null,
  fn() {
    const r = check(mutations(small!, 2, 600), "f.pt");
    assert.ok(r.errors > 0);
  },
});

Deno.test({
  name: "fuzz: pickle inside a valid zip (mutated data.pkl re-archived with a correct CRC)",
  ignore: small === null,
  fn() {
    const zip = openZip(small!, "f.pt");
    const names = [...zip.entries.keys()];
    const pkl = zip.read("model/data.pkl");
    const inputs = mutations(pkl, 3, 800).map((m) =>
      makeZip(names.map((n) => [n, n === "model/data.pkl" ? m : zip.read(n)]))
    );
    const r = check(inputs, "f.pt");
    assert.ok(r.errors > 0 && r.ok > 0, `ok ${r.ok}, errors ${r.errors}`);
  },
});

Deno.test({
  name: "fuzz: legacy .pt flips in the pickles, storage sizes and truncations",
  ignore: legacy === null,
  fn() {
    // The pickles and the storage-key list take the first ~14 kB; most mutations are aimed there.
    const inputs = [...mutations(legacy!, 4, 120, 14000), ...mutations(legacy!, 5, 20)];
    const r = check(inputs, "l.pt");
    assert.ok(r.errors > 0);
  },
});

Deno.test("fuzz: hand-built files (no fixtures needed): safetensors and a strided .pt", () => {
  const st = writeSafetensors(
    new Map([
      ["a", { dtype: "float32", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
      ["i", { dtype: "int32", shape: [2], data: new Int32Array([7, 8]) }],
    ]),
    { format: "pt" },
  );
  const pkl = new PickleBuilder().op(0x7d).str("state_dict").op(0x7d).mark()
    .str("t").tensor("FloatStorage", "0", 6, 0, [3, 2], [1, 3])
    .str("v").tensor("FloatStorage", "0", 6, 2, [2], [2])
    .op(0x75).op(0x73).bytes();
  const pt = makeZip([["x/data.pkl", pkl], [
    "x/data/0",
    new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer),
  ]]);
  assert.ok(check(mutations(st, 6, 400), "h.safetensors").errors > 0);
  assert.ok(check(mutations(pt, 7, 400), "h.pt").errors > 0);
  const repacked = mutations(pkl, 8, 600).map((m) =>
    makeZip([["x/data.pkl", m], ["x/data/0", new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer)]])
  );
  const r = check(repacked, "h.pt");
  assert.ok(r.errors > 0 && r.ok > 0, `ok ${r.ok}, errors ${r.errors}`);
});
