import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { randomArray } from "../_helpers.ts";

await T.init();

Deno.test("checkpoint: identical gradients (inputs and captured parameters), lower peak memory over a chain of blocks", async () => {
  const xs = [1, 4, 12, 12, 12], ws = [4, 4, 3, 3, 3];
  const w1 = T.tensor(randomArray(432, 1, -0.2, 0.2), ws).requireGrad().keep();
  const w2 = T.tensor(randomArray(432, 2, -0.2, 0.2), ws).requireGrad().keep();
  const block = (x: T.Tensor) => {
    let h = x;
    for (let i = 0; i < 3; i++) {
      const c = T.conv3d(h, i % 2 ? w2 : w1, null, { padding: 1 });
      if (h !== x) h.dispose();
      h = T.silu(c);
      c.dispose();
    }
    return h;
  };
  const run = async (ckpt: boolean) => {
    const x = T.tensor(randomArray(6912, 3), xs).requireGrad();
    T.backend().flush();
    const base = T.stats().current;
    T.backend().resetPeak();
    // Four blocks in sequence: without checkpointing every block's activations live until backward.
    let y: T.Tensor = x;
    for (let b = 0; b < 4; b++) {
      const next = ckpt ? T.checkpoint(block, y) : block(y);
      if (y !== x) y.dispose();
      y = next;
    }
    const loss = T.sum(y);
    loss.backward();
    const peak = T.stats().peak - base;
    const grads = [await x.grad!.data(), await w1.grad!.data(), await w2.grad!.data()];
    for (const t of [x.grad!, w1.grad!, w2.grad!, x, y, loss]) t.dispose();
    w1.grad = null;
    w2.grad = null;
    return { grads, peak };
  };
  const plain = await run(false), ck = await run(true);
  plain.grads.forEach((g, i) => assert.deepEqual(ck.grads[i], g, `gradient ${i} differs`));
  assert.ok(ck.peak < plain.peak * 0.75, `checkpoint peak ${ck.peak} vs plain ${plain.peak}`);
});
