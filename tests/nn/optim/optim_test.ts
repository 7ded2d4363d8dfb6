import assert from "node:assert/strict";
import { type Tensor, tensor } from "../../../tensor/mod.ts";
import { Adam, AdamW } from "../../../nn/optim/adam.ts";
import { SGD } from "../../../nn/optim/sgd.ts";
import { MultiStepLR } from "../../../nn/optim/lr_scheduler.ts";
import { randomArray, setup } from "../_helpers.ts";

await setup();

const f = Math.fround;

/** torch.optim.Adam single-tensor update in float32 arithmetic, for reference. */
function hostAdam(
  p: Float32Array,
  grads: Float32Array[],
  lr: number,
  b1: number,
  b2: number,
  eps: number,
  wd: number,
  decoupled: boolean,
) {
  const m = new Float32Array(p.length), v = new Float32Array(p.length);
  p = p.slice();
  grads.forEach((g0, k) => {
    const t = k + 1;
    const stepSize = f(lr / (1 - b1 ** t)), bc2s = f(Math.sqrt(1 - b2 ** t));
    for (let i = 0; i < p.length; i++) {
      let g = g0[i];
      if (wd !== 0) {
        if (decoupled) p[i] = f(p[i] * f(1 - lr * wd));
        else g = f(g + f(wd * p[i]));
      }
      m[i] = f(f(m[i] * b1) + f(f(1 - b1) * g));
      v[i] = f(f(v[i] * b2) + f(f(f(1 - b2) * g) * g));
      const denom = f(f(f(Math.sqrt(v[i])) / bc2s) + eps);
      p[i] = f(p[i] + f(f(-stepSize * m[i]) / denom));
    }
  });
  return p;
}

async function runSteps(make: (p: Tensor) => { step(): void }, p0: Float32Array, grads: Float32Array[]) {
  const p = tensor(p0, [p0.length]).requireGrad();
  const opt = make(p);
  for (const g of grads) {
    p.grad?.dispose();
    p.grad = tensor(g, [g.length]);
    opt.step();
  }
  const out = await p.data();
  p.grad?.dispose();
  p.dispose();
  return out;
}

const N = 1000;
const p0 = randomArray(N, 3);
const grads = [1, 2, 3].map((s) => randomArray(N, 10 + s, -0.01, 0.01));

Deno.test("Adam matches torch.optim.Adam's update order (3 steps, with and without weight decay)", async () => {
  for (const wd of [0, 0.1]) {
    const got = await runSteps((p) => new Adam([p], { lr: 1e-3, weightDecay: wd }), p0, grads);
    const want = hostAdam(p0, grads, 1e-3, 0.9, 0.999, 1e-8, wd, false);
    for (let i = 0; i < N; i++) {
      assert.ok(
        Math.abs(got[i] - want[i]) <= 2e-7 * Math.max(1, Math.abs(want[i])),
        `wd ${wd} element ${i}: ${got[i]} vs ${want[i]}`,
      );
    }
  }
});

Deno.test("AdamW decays decoupled from the gradient (default wd 1e-2)", async () => {
  const got = await runSteps((p) => new AdamW([p], { lr: 1e-2 }), p0, grads);
  const want = hostAdam(p0, grads, 1e-2, 0.9, 0.999, 1e-8, 1e-2, true);
  for (let i = 0; i < N; i++) assert.ok(Math.abs(got[i] - want[i]) <= 2e-7 * Math.max(1, Math.abs(want[i])));
});

Deno.test("SGD with momentum, dampening and Nesterov follows torch.optim.SGD", async () => {
  for (
    const [momentum, dampening, nesterov, wd] of [[0, 0, false, 0], [0.9, 0, false, 0.01], [
      0.9,
      0.1,
      false,
      0,
    ], [0.9, 0, true, 0]] as const
  ) {
    const got = await runSteps(
      (p) => new SGD([p], { lr: 0.1, momentum, dampening, nesterov, weightDecay: wd }),
      p0,
      grads,
    );
    const p = p0.slice(), buf = new Float32Array(N);
    grads.forEach((g, k) => {
      for (let i = 0; i < N; i++) {
        let d = wd ? f(g[i] + f(wd * p[i])) : g[i];
        if (momentum) {
          buf[i] = k === 0 ? d : f(f(buf[i] * momentum) + f((1 - dampening) * d));
          d = nesterov ? f(d + f(momentum * buf[i])) : buf[i];
        }
        p[i] = f(p[i] + f(-0.1 * d));
      }
    });
    for (let i = 0; i < N; i++) {
      assert.ok(
        Math.abs(got[i] - p[i]) <= 1e-6,
        `${momentum}/${dampening}/${nesterov}: ${got[i]} vs ${p[i]}`,
      );
    }
  }
});

Deno.test("optimizer state saves and restores (resume gives the same trajectory)", async () => {
  const a = tensor(p0, [N]).requireGrad();
  const optA = new Adam([a], { lr: 1e-3 });
  a.grad = tensor(grads[0], [N]);
  optA.step();
  const saved = await optA.stateDict();
  assert.deepEqual(saved.steps, [1]);
  assert.ok(saved.tensors.has("state.0.exp_avg") && saved.tensors.has("state.0.exp_avg_sq"));
  const b = tensor(await a.data(), [N]).requireGrad();
  const optB = new Adam([b], { lr: 5 });
  optB.loadStateDict(saved);
  assert.equal(optB.lr, 1e-3);
  for (const [p, o] of [[a, optA], [b, optB]] as const) {
    p.grad?.dispose();
    p.grad = tensor(grads[1], [N]);
    o.step();
  }
  assert.deepEqual(await a.data(), await b.data());
  optA.zeroGrad();
  assert.equal(a.grad, null);
  for (const o of [optA, optB]) o.dispose();
  b.grad?.dispose();
  a.dispose();
  b.dispose();
});

Deno.test("MultiStepLR stepped at each epoch start decays after epochs 99 and 999 (reference schedule)", () => {
  const p = tensor([1], [1]).requireGrad();
  const opt = new Adam([p], { lr: 1 });
  const sched = new MultiStepLR(opt, [100, 1000], 0.1);
  const lrs: number[] = [];
  for (let epoch = 0; epoch < 1001; epoch++) {
    sched.step();
    lrs.push(opt.lr);
  }
  assert.equal(lrs[0], 1);
  assert.equal(lrs[98], 1);
  assert.ok(Math.abs(lrs[99] - 0.1) < 1e-12);
  assert.ok(Math.abs(lrs[998] - 0.1) < 1e-12);
  assert.ok(Math.abs(lrs[999] - 0.01) < 1e-12);
  p.dispose();
});
