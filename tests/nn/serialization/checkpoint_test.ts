/** Our training checkpoints: NaN/Inf weights and corrupt metadata are refused, naming the file and the tensor/field. */
import nodeAssert from "node:assert/strict";
import { join } from "node:path";
import * as T from "../../../tensor/mod.ts";
import { Linear } from "../../../nn/layers/linear.ts";
import { Adam } from "../../../nn/optim/adam.ts";
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from "../../../nn/checkpoint.ts";
import { readSafetensors, writeSafetensors } from "../../../nn/serialization/safetensors.ts";

const assert = (c: unknown, m?: string) => nodeAssert.ok(c, m);
const assertEquals = <T>(a: T, b: T) => nodeAssert.deepStrictEqual(a, b);
const assertRejects = (f: () => Promise<unknown>, re: RegExp) => nodeAssert.rejects(f, re);

const EXPECT = { kind: "test", configHash: "abc" };

async function withCheckpoint(fn: (path: string, dir: string) => Promise<void>): Promise<void> {
  await T.init();
  const dir = await Deno.makeTempDir({ prefix: "ldm-ckpt-" });
  try {
    const net = new Linear(2, 3);
    const opt = new Adam(net.parameters(), { lr: 0.01 });
    const path = join(dir, "ckpt.safetensors");
    await saveCheckpoint(path, { models: { net }, optimizers: { net: opt } }, {
      ...EXPECT,
      epoch: 2,
      step: 7,
      extra: { lrLastEpoch: 2 },
    });
    net.dispose();
    opt.dispose();
    await fn(path, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Rewrites the checkpoint with `edit` applied to its tensors and metadata. */
async function tamper(
  path: string,
  edit: (t: ReturnType<typeof readSafetensors>) => void,
): Promise<void> {
  const content = readSafetensors(await Deno.readFile(path), path);
  edit(content);
  await Deno.writeFile(path, writeSafetensors(content.tensors, content.metadata));
}

async function restore(path: string) {
  const net = new Linear(2, 3);
  const opt = new Adam(net.parameters(), { lr: 0.5 });
  try {
    return await loadCheckpoint(path, { models: { net }, optimizers: { net: opt } }, EXPECT);
  } finally {
    net.dispose();
    opt.dispose();
  }
}

Deno.test("checkpoint: a clean checkpoint round-trips", async () => {
  await withCheckpoint(async (path) => {
    const info = await restore(path);
    assertEquals([info.epoch, info.step, info.extra?.lrLastEpoch], [2, 7, 2]);
    assertEquals((await readCheckpointInfo(path))?.step, 7);
  });
});

Deno.test("checkpoint: NaN or Inf in a weight or optimizer state names the file and the first bad tensor", async () => {
  await withCheckpoint(async (path) => {
    await tamper(path, ({ tensors }) => {
      (tensors.get("model.net.weight")!.data as Float32Array)[4] = NaN;
      (tensors.get("model.net.bias")!.data as Float32Array)[0] = NaN;
    });
    await assertRejects(
      () => restore(path),
      /ckpt\.safetensors: tensor 'model\.net\.weight' contains NaN at element 4/,
    );
  });
  await withCheckpoint(async (path) => {
    await tamper(path, ({ tensors }) => {
      // (A fresh optimizer has no state yet: put a moment tensor in as a stepped one would have.)
      tensors.set("optim.net.0.exp_avg", {
        dtype: "float32",
        shape: [2],
        data: new Float32Array([0, -Infinity]),
      });
    });
    await assertRejects(
      () => restore(path),
      /ckpt\.safetensors: tensor 'optim\.net\.[\w.]+' contains -Infinity/,
    );
  });
});

Deno.test("checkpoint: corrupt metadata names the file and the field", async () => {
  const cases: [Record<string, string | undefined>, RegExp][] = [
    [{ info: "undefined" }, /ckpt\.safetensors: corrupt checkpoint metadata: field 'info' is not valid JSON/],
    [
      { info: "{epoch: 1}" },
      /ckpt\.safetensors: corrupt checkpoint metadata: field 'info' is not valid JSON/,
    ],
    [{ info: undefined }, /ckpt\.safetensors: corrupt checkpoint metadata: field 'info' is missing/],
    [{ info: "[1]" }, /field 'info' should be an object, got \[1\]/],
    [
      { info: JSON.stringify({ ...EXPECT, epoch: "two", step: 1 }) },
      /ckpt\.safetensors: corrupt checkpoint metadata: field 'info\.epoch' should be a non-negative integer, got "two"/,
    ],
    [
      { info: JSON.stringify({ kind: "test", epoch: 1, step: 1 }) },
      /field 'info\.configHash' should be a string/,
    ],
    [
      { optimizers: "{'net'" },
      /ckpt\.safetensors: corrupt checkpoint metadata: field 'optimizers' is not valid JSON/,
    ],
    [{ optimizers: JSON.stringify({ net: 3 }) }, /field 'optimizers\.net' should be an object, got 3/],
    [{ models: "{}" }, /field 'models' should be a list of role names/],
    [{ format: undefined }, /ckpt\.safetensors: not a training checkpoint .*'format' is missing/],
  ];
  for (const [edit, re] of cases) {
    await withCheckpoint(async (path) => {
      await tamper(path, ({ metadata }) => {
        for (const [k, v] of Object.entries(edit)) {
          if (v === undefined) delete metadata[k];
          else metadata[k] = v;
        }
      });
      await assertRejects(() => restore(path), re);
      if (!("optimizers" in edit)) await assertRejects(() => readCheckpointInfo(path), re);
    });
  }
  assert(cases.length > 0);
});
