/**
 * Benchmark runner: prints one JSON object per line ({name, shape, ms, gflops, gbps, adapter, …}) and writes
 * the same lines to bench/results/latest.jsonl. `--quick` shrinks the sizes; `--leak-steps N` sets the
 * length of the leak check (10,000 by default); `--only conv3d,matmul` runs only the benches whose names start
 * with one of those prefixes (PyTorch's too) and leaves results/latest.jsonl alone.
 */
import { parseArgs } from "node:util";
import * as T from "../tensor/mod.ts";
import { matmulTile } from "../tensor/webgpu/matmul.ts";
import { type BenchRecord, record, timeMedian } from "./measure.ts";
import { emitComparison, runTorchReference } from "./torch_runner.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    "leak-steps": { type: "string", default: "10000" },
    backend: { type: "string" },
    "no-torch": { type: "boolean", default: false },
    only: { type: "string" },
  },
});
const only = values.only?.split(",").filter((p) => p !== "") ?? [];
/** Whether the bench `name` is selected by --only. */
const want = (name: string) => only.length === 0 || only.some((p) => name.startsWith(p));
await T.init({ backend: values.backend ? T.parseBackendChoice(values.backend, "--backend") : undefined });
console.error(`bench: ${T.backendSummary()}`);
const webgpu = T.backend().kind === "webgpu";
const out: BenchRecord[] = [];
const emit = (r: BenchRecord) => {
  out.push(r);
  console.log(JSON.stringify(r));
};

// Matmul at several sizes (and tile shapes at 1024 to keep the kernel choice honest).
for (const n of !want("matmul") ? [] : values.quick ? [256, 512] : [256, 512, 1024, 2048]) {
  const a = T.randn([n, n], { seed: 1, stream: "a" }), b = T.randn([n, n], { seed: 1, stream: "b" });
  // Tile shapes are a WebGPU kernel parameter.
  const tiles: { tm: number | null; tn: number | null }[] = n === 1024 && webgpu
    ? [{ tm: 4, tn: 4 }, { tm: 4, tn: 8 }, { tm: 8, tn: 8 }, { tm: null, tn: null }]
    : [{ tm: null, tn: null }];
  for (const tile of tiles) {
    Object.assign(matmulTile, tile);
    const ms = await timeMedian(() => T.matmul(a, b).dispose(), n >= 2048 ? 3 : 5);
    emit(
      record("matmul", `${n}x${n}x${n}`, ms, 2 * n ** 3, null, {
        tile: tile.tm ? `${tile.tm}x${tile.tn}` : "auto",
      }),
    );
  }
  Object.assign(matmulTile, { tm: null, tn: null });
  a.dispose();
  b.dispose();
}

// 3-D convolution 32→32 at 32³ (k3, p1): forward, and forward + both backward passes (3× the flops).
if (want("conv3d")) {
  const x = T.randn([1, 32, 32, 32, 32], { seed: 4, stream: "x" }),
    w = T.randn([32, 32, 3, 3, 3], { seed: 4, stream: "w" });
  const bias = T.zeros([32]);
  const flops = 2 * 32 * 32 * 27 * 32 ** 3;
  const fwd = await timeMedian(() => T.conv3d(x, w, bias, { padding: 1 }).dispose(), 5);
  emit(record("conv3d_fwd", "1x32x32^3 32->32 k3", fwd, flops, null));
  x.requireGrad();
  w.requireGrad();
  const both = await timeMedian(() =>
    T.scope(() => {
      T.sum(T.conv3d(x, w, bias, { padding: 1 })).backward();
      for (const t of [x, w] as T.Tensor[]) {
        t.grad!.dispose();
        t.grad = null;
      }
    }), 3);
  emit(record("conv3d_fwd_bwd", "1x32x32^3 32->32 k3", both, 3 * flops, null));
  for (const t of [x, w, bias]) t.dispose();
}

// Attention softmax(q·kᵀ·s)·v over 4 heads of head size 16 (the UNet's 5,544-token level; 2,048 with --quick):
// forward, and forward + backward (3.5× the flops: dS, dQ, dK, dV and the recomputed scores).
if (want("attention")) {
  const t = values.quick ? 2048 : 5544, shape = [1, 4, t, 16], tag = `1x4x${t}x16`;
  const [q, k, v] = ["q", "k", "v"].map((stream) => T.randn(shape, { seed: 6, stream }));
  const gy = T.randn(shape, { seed: 6, stream: "gy" });
  const flops = 4 * 4 * t * t * 16;
  const fwd = await timeMedian(() => T.attention(q, k, v, 0.25).dispose(), 3);
  emit(record("attention_fwd", tag, fwd, flops, null));
  for (const x of [q, k, v]) x.requireGrad();
  const both = await timeMedian(() =>
    T.scope(() => {
      T.attention(q, k, v, 0.25).backward(gy);
      for (const x of [q, k, v] as T.Tensor[]) {
        x.grad!.dispose();
        x.grad = null;
      }
    }), 3);
  emit(record("attention_fwd_bwd", tag, both, 3.5 * flops, null));
  for (const x of [q, k, v, gy]) x.dispose();
}

// GroupNorm 1×64×64³, 32 groups, forward + backward (bytes: x, y, dy, dx at least).
if (want("groupnorm")) {
  const x = T.randn([1, 64, 64, 64, 64], { seed: 5, stream: "x" }).requireGrad();
  const g = T.ones([64]), b = T.zeros([64]);
  const ms = await timeMedian(() =>
    T.scope(() => {
      T.sum(T.groupNorm(x, 32, g, b, 1e-6)).backward();
      x.grad!.dispose();
      x.grad = null;
    }), 3);
  emit(record("groupnorm_fwd_bwd", "1x64x64^3 G32", ms, null, 4 * 4 * x.size));
  for (const t of [x, g, b]) t.dispose();
}

// Elementwise add of 16M floats: 3 × 64 MiB moved.
if (want("add")) {
  const n = values.quick ? 1 << 22 : 1 << 24;
  const a = T.randn([n], { seed: 2, stream: "x" }), b = T.randn([n], { seed: 2, stream: "y" });
  const ms = await timeMedian(() => T.add(a, b).dispose());
  emit(record("add", `${n}`, ms, n, 12 * n));
  a.dispose();
  b.dispose();
}

// Dispatch overhead: 1000 chained small ops recorded, one sync.
if (want("chain_1000_small_ops")) {
  const x0 = T.zeros([256]);
  const ms = await timeMedian(async () => {
    let x = T.affine(x0, 1, 0);
    for (let i = 0; i < 999; i++) {
      const y = T.affine(x, 1, 1);
      x.dispose();
      x = y;
    }
    await x.data();
    x.dispose();
  });
  emit(record("chain_1000_small_ops", "256", ms, null, null));
}

// Readback of 4 MiB.
if (want("readback")) {
  const x = T.zeros([1 << 20]);
  const ms = await timeMedian(async () => void (await x.data()));
  emit(record("readback", "4MiB", ms, null, 4 << 20));
}

// Leak check: forward+backward+update of a small MLP; current bytes must stay flat.
if (want("leak_check")) {
  const steps = values.quick ? 500 : Number(values["leak-steps"]);
  const w1 = T.randn([64, 64], { seed: 3, stream: "w1" }, 0, 0.1).requireGrad();
  const w2 = T.randn([64, 1], { seed: 3, stream: "w2" }, 0, 0.1).requireGrad();
  const x = T.randn([128, 64], { seed: 3, stream: "x" }), y = T.randn([128, 1], { seed: 3, stream: "y" });
  const step = () =>
    T.scope(() => {
      const l = T.mean(T.square(T.sub(T.matmul(T.silu(T.matmul(x, w1)), w2), y)));
      l.backward();
      for (const w of [w1, w2] as T.Tensor[]) {
        w.grad!.dispose();
        w.grad = null;
      }
    });
  for (let i = 0; i < 10; i++) step();
  await T.backend().sync();
  const before = T.stats().current;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    step();
    // Like a training loop reading its loss every 100 steps: keeps the device queue bounded.
    if (i % 100 === 99) await T.backend().sync();
  }
  await T.backend().sync();
  const ms = (performance.now() - t0) / steps;
  const after = T.stats().current;
  emit(
    record("leak_check_mlp_step", `${steps} steps`, ms, null, null, {
      currentBefore: before,
      currentAfter: after,
      flat: before === after,
    }),
  );
}

const s = T.stats();
emit(
  record("pipelines", "whole run", s.compileMs, null, null, {
    pipelines: s.pipelines,
    compileMs: Number(s.compileMs.toFixed(1)),
    peakBytes: s.peak,
  }),
);

// PyTorch CPU on the same host and thread count, when python3-torch is installed: ratios from one run.
if (!values["no-torch"]) {
  const threads = T.backend().kind === "wasm" ? T.backend().threads : navigator.hardwareConcurrency;
  const torch = await runTorchReference("torch_reference.py", threads, [
    ...(values.quick ? ["--quick"] : []),
    ...(values.only ? ["--only", values.only] : []),
  ]);
  if ("unavailable" in torch) console.error(`bench: no PyTorch reference: ${torch.unavailable}`);
  else emitComparison([...out], torch, emit);
}

// A partial run (--only) leaves the full results file alone.
if (only.length === 0) {
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(
    new URL("./results/latest.jsonl", import.meta.url),
    out.map((r) => JSON.stringify(r)).join("\n") + "\n",
  );
}
