import assert from "node:assert/strict";
import { sum, type Tensor, tensor } from "../../tensor/mod.ts";
import { HostRng } from "../../nn/init.ts";
import { Module, StateDictError } from "../../nn/module.ts";
import { Linear } from "../../nn/layers/linear.ts";
import { SiLU } from "../../nn/layers/activation.ts";
import { Sequential } from "../../nn/layers/sequential.ts";
import { randomArray, setup } from "./_helpers.ts";

await setup();

class Block extends Module {
  readonly fc: Linear;
  readonly act: SiLU;
  constructor(rng: HostRng) {
    super();
    this.fc = this.registerModule("fc", new Linear(3, 3, { rng }));
    this.act = this.registerModule("act", new SiLU());
  }
  forward(x: Tensor): Tensor {
    return this.act.forward(this.fc.forward(x));
  }
}

class Net extends Module {
  constructor(rng: HostRng) {
    super();
    this.registerModule("blocks", new Sequential([new Block(rng), new Block(rng)]));
    this.registerModule("head", new Linear(3, 1, { bias: false, rng }));
  }
}

Deno.test("namedParameters and stateDict use PyTorch dotted names in registration order", async () => {
  const net = new Net(new HostRng(1));
  assert.deepEqual(net.namedParameters().map(([k]) => k), [
    "blocks.0.fc.weight",
    "blocks.0.fc.bias",
    "blocks.1.fc.weight",
    "blocks.1.fc.bias",
    "head.weight",
  ]);
  assert.equal(net.numParameters(), 9 + 3 + 9 + 3 + 3);
  const sd = await net.stateDict();
  assert.deepEqual([...sd.keys()], net.namedParameters().map(([k]) => k));
  assert.deepEqual(sd.get("head.weight")!.shape, [1, 3]);
  net.dispose();
});

Deno.test("default init is U(±1/√fan_in) and reproducible from the seed", async () => {
  const a = new Linear(16, 8, { rng: new HostRng(7) });
  const b = new Linear(16, 8, { rng: new HostRng(7) });
  const wa = await a.weight.data(), wb = await b.weight.data();
  assert.deepEqual(wa, wb);
  const bound = 1 / Math.sqrt(16);
  assert.ok(wa.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.max(...wa) > 0.8 * bound && Math.min(...wa) < -0.8 * bound);
  a.dispose();
  b.dispose();
});

Deno.test("loadStateDict round-trips and a strict failure lists missing, unexpected and mismatched keys", async () => {
  const net = new Net(new HostRng(1));
  const other = new Net(new HostRng(2));
  other.loadStateDict(await net.stateDict());
  assert.deepEqual(await other.stateDict(), await net.stateDict());

  const sd = await net.stateDict();
  sd.delete("head.weight");
  sd.set("extra.bias", { dtype: "float32", shape: [1], data: new Float32Array(1) });
  sd.set("blocks.0.fc.bias", { dtype: "float32", shape: [4], data: new Float32Array(4) });
  assert.throws(() => other.loadStateDict(sd, { file: "ckpt.safetensors" }), (e: unknown) => {
    assert.ok(e instanceof StateDictError);
    assert.deepEqual(e.missingKeys, ["head.weight"]);
    assert.deepEqual(e.unexpectedKeys, ["extra.bias"]);
    assert.equal(e.shapeMismatches[0].key, "blocks.0.fc.bias");
    assert.match(e.message, /ckpt\.safetensors/);
    return true;
  });
  sd.set("blocks.0.fc.bias", { dtype: "float32", shape: [3], data: new Float32Array(3) });
  const r = other.loadStateDict(sd, { strict: false });
  assert.deepEqual(r.missingKeys, ["head.weight"]);
  net.dispose();
  other.dispose();
});

Deno.test("Linear matches x·Wᵀ + b and its gradients", async () => {
  const lin = new Linear(3, 2, { rng: new HostRng(3) });
  const xs = randomArray(8 * 3, 5);
  const x = tensor(xs, [2, 4, 3]);
  const y = lin.forward(x);
  assert.deepEqual(y.shape, [2, 4, 2]);
  const w = await lin.weight.data(), b = await lin.bias!.data();
  const yd = await y.data();
  for (let r = 0; r < 8; r++) {
    for (let o = 0; o < 2; o++) {
      let acc = b[o];
      for (let i = 0; i < 3; i++) acc += xs[r * 3 + i] * w[o * 3 + i];
      assert.ok(Math.abs(yd[r * 2 + o] - acc) < 1e-5);
    }
  }
  const loss = sum(y);
  loss.backward();
  const gb = await lin.bias!.grad!.data();
  assert.deepEqual([...gb], [8, 8]);
  const gw = await lin.weight.grad!.data();
  for (let i = 0; i < 3; i++) {
    let s = 0;
    for (let r = 0; r < 8; r++) s += xs[r * 3 + i];
    assert.ok(Math.abs(gw[i] - s) < 1e-4 && Math.abs(gw[3 + i] - s) < 1e-4);
  }
  lin.zeroGrad();
  assert.equal(lin.weight.grad, null);
  for (const t of [x, y, loss]) t.dispose();
  lin.dispose();
});
