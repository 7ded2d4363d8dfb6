// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/** Every fixture checkpoint: model.pt (zip), model_legacy.pt and model.safetensors agree key-for-key and bit-for-bit. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureExists, fixturePath, fixturesRoot, listFixtureFiles } from "../../fixtures.ts";
import {
  type HostTensor,
  loadStateDictFile,
  readStateDictFile,
  type StateDict,
} from "../../../nn/serialization/mod.ts";

const root = fixturesRoot();

function caseDirs(): string[] {
  try {
    return [...Deno.readDirSync(root)].filter((e) => e.isDirectory).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

function bits(t: HostTensor): Uint32Array {
  return new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
}

function assertSameStateDict(a: StateDict, b: StateDict, what: string): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `${what}: key sets differ`);
  for (const [k, ta] of a) {
    const tb = b.get(k)!;
    assert.equal(ta.dtype, tb.dtype, `${what}: dtype of ${k}`);
    assert.deepEqual(ta.shape, tb.shape, `${what}: shape of ${k}`);
    assert.equal(ta.data.constructor, tb.data.constructor, `${what}: array type of ${k}`);
    const ba = bits(ta), bb = bits(tb);
    assert.equal(ba.length, bb.length, `${what}: length of ${k}`);
    for (let i = 0; i < ba.length; i++) {
      if (ba[i] !== bb[i]) assert.fail(`${what}: ${k}[${i}] differs: ${ta.data[i]} vs ${tb.data[i]}`);
    }
  }
}

const cases = caseDirs();

Deno.test({
  name: `fixtures: found under ${root}`,
  ignore: cases.length === 0,
  fn() {
    assert.ok(cases.length > 0);
  },
});

for (const name of cases) {
  const dir = join(root, name);
  if (!fixtureExists(join(dir, "model.safetensors"))) continue;
  const st = fixturePath(join(dir, "model.safetensors"));
  Deno.test(`fixtures/${name}: model.safetensors loads, finite, matches meta.param_keys`, async () => {
    const { stateDict, format } = await readStateDictFile(st);
    assert.equal(format, "safetensors");
    let meta: any = null;
    try {
      meta = JSON.parse(Deno.readTextFileSync(join(dir, "meta.json")));
    } catch { /* no meta: nothing more to compare */ }
    const keys = meta?.param_keys?.model as [string, number[]][] | undefined;
    if (keys) {
      assert.deepEqual([...stateDict.keys()].sort(), keys.map(([k]) => k).sort());
      for (const [k, shape] of keys) assert.deepEqual(stateDict.get(k)!.shape, shape, k);
    }
  });
  for (const pt of ["model.pt", "model_legacy.pt"]) {
    if (!fixtureExists(join(dir, pt))) continue;
    const p = fixturePath(join(dir, pt));
    Deno.test(`fixtures/${name}: ${pt} equals model.safetensors bit-for-bit`, async () => {
      const { stateDict: fromPt, format } = await readStateDictFile(p);
      assert.equal(format, pt === "model.pt" ? "torch-zip" : "torch-legacy");
      const fromSt = await loadStateDictFile(st);
      assertSameStateDict(fromPt, fromSt, `${name}/${pt}`);
      let meta: any = null;
      try {
        meta = JSON.parse(Deno.readTextFileSync(join(dir, "meta.json")));
      } catch { /* no meta */ }
      const keys = meta?.param_keys?.model as [string, number[]][] | undefined;
      // A .pt keeps the PyTorch state-dict order.
      if (keys) assert.deepEqual([...fromPt.keys()], keys.map(([k]) => k));
    });
  }
}

const otherSafetensors = cases.flatMap((name) => {
  try {
    return listFixtureFiles(join(root, name))
      .filter((f) => f.endsWith(".safetensors") && f !== "model.safetensors")
      .map((f) => join(root, name, f));
  } catch {
    return [];
  }
});

Deno.test({
  name: "fixtures: every other *.safetensors (grads, intermediates, weights after a step) loads",
  ignore: otherSafetensors.length === 0,
  async fn() {
    for (const p of otherSafetensors) {
      const sd = await loadStateDictFile(fixturePath(p));
      assert.ok(sd.size > 0, p);
    }
  },
});
