/**
 * The perceptual loss against the perceptual_loss fixture: LPIPS features and values on 2-D slices, the fake-3D loss
 * and its input gradient per ratio run (settings, counts and names from meta.json), plus LPIPS on thin slices.
 */
import assert from "node:assert/strict";
import { noGrad, type Tensor, tensor } from "../../../tensor/mod.ts";
import { PerceptualLoss, type SliceIndices } from "../../../nn/mod.ts";
import { loadStateDictFile, type StateDict } from "../../../nn/serialization/mod.ts";
import { loadCase, relError } from "../../fixtures.ts";
import { assertRel, fixtureTensor, randomArray, setup } from "../_helpers.ts";
import { findNearTies, type NearTie, withFlippedTies } from "./_pool_ties.ts";

await setup();

const fx = loadCase("perceptual_loss");

async function loaded(ratio: number): Promise<PerceptualLoss> {
  const cfg = fx!.meta.config;
  const p = new PerceptualLoss({
    spatialDims: cfg.spatial_dims,
    networkType: cfg.network_type,
    isFake3d: cfg.is_fake_3d,
    fake3dRatio: ratio,
  });
  assert.deepEqual(p.stateDictShapes(), fx!.meta.param_keys.model);
  p.loadStateDict(await loadStateDictFile(fx!.file("model.safetensors")), { file: "model.safetensors" });
  return p;
}

/** Loss and input gradient with the given near-ties flipped. */
async function lossAndGradient(p: PerceptualLoss, y: Tensor, idx: SliceIndices, flips: NearTie[]) {
  const x = fixtureTensor(fx!, fx!.meta.config.lpips2d.source_input).requireGrad();
  const out = withFlippedTies(p, flips, () => {
    const o = p.forward(x, y, idx);
    o.loss.backward();
    return o;
  });
  const loss = await out.loss.item(), grad = await x.grad!.data() as Float32Array;
  for (const t of [x, out.loss, ...out.perAxis]) t.dispose();
  return { loss, grad };
}

/**
 * Compares our input gradient with the reference. If it misses the tolerance, near-tied max-pool windows (see
 * _pool_ties.ts) are flipped one at a time, each kept when it brings the gradient closer (sum of squared
 * differences); the error of the final gradient, a real gradient of ours under that tie choice, is returned.
 */
async function matchGradient(
  p: PerceptualLoss,
  y: Tensor,
  idx: SliceIndices,
  got: Float32Array,
  want: ArrayLike<number>,
  tol: number,
): Promise<{ error: number; flips: NearTie[] }> {
  const sse = (g: Float32Array) => g.reduce((a, v, i) => a + (v - want[i]) ** 2, 0);
  let best = got, flips: NearTie[] = [];
  if (relError(best, want) <= tol) return { error: relError(best, want), flips };
  const x = fixtureTensor(fx!, fx!.meta.config.lpips2d.source_input);
  const ties = await findNearTies(p, x, idx);
  x.dispose();
  for (const t of ties) {
    const { grad: g } = await lossAndGradient(p, y, idx, [...flips, t]);
    if (sse(g) < sse(best)) {
      best = g;
      flips = [...flips, t];
    }
  }
  return { error: relError(best, want), flips };
}

Deno.test({
  name: "LPIPS (SqueezeNet trunk) features, per-layer terms and values match the reference on 2-D slices",
  ignore: !fx,
  fn: async () => {
    const cfg = fx!.meta.config.lpips2d;
    const p = await loaded(1);
    const in0 = fixtureTensor(fx!, cfg.in0), in1 = fixtureTensor(fx!, cfg.in1);
    const report: Record<string, number> = {};
    await noGrad(async () => {
      const feats = p.perceptualFunction.features(in0);
      for (const [i, name] of (cfg.features_in0 as string[]).entries()) {
        assert.deepEqual(feats[i].shape, fx!.tensor(name).shape);
        report[name] = await assertRel(feats[i], fx!.tensor(name).data, 5e-4, name);
      }
      const out = p.perceptualFunction.forward(in0, in1);
      for (const [i, name] of (cfg.layers as string[]).entries()) {
        report[name] = await assertRel(out.layers[i], fx!.tensor(name).data, 1e-4, name);
      }
      report.value = await assertRel(out.value, fx!.tensor(cfg.value).data, 1e-4, "value");
      for (const t of [...feats, out.value, ...out.layers]) t.dispose();
    });
    console.log("perceptual lpips2d rel errors:", JSON.stringify(report));
    in0.dispose();
    in1.dispose();
    p.dispose();
  },
});

Deno.test({
  name: "fake-3D perceptual loss with recorded slice indices: per-axis terms, total and input gradient",
  ignore: !fx,
  fn: async () => {
    for (const run of fx!.meta.config.ratio_runs) {
      const p = await loaded(run.fake_3d_ratio);
      const x = fixtureTensor(fx!, fx!.meta.config.lpips2d.source_input).requireGrad();
      const y = fixtureTensor(fx!, fx!.meta.config.lpips2d.source_target);
      const idx = (run.slice_indices as string[]).map((n) => fx!.tensor(n).data) as unknown as SliceIndices;
      const out = p.forward(x, y, idx);
      const report: Record<string, number> = {};
      for (const [i, name] of (run.loss_axis as string[]).entries()) {
        const v = await out.perAxis[i].item(), want = fx!.scalar(name);
        report[name] = Math.abs(v - want) / Math.abs(want);
        assert.ok(report[name] <= 1e-4, `${name}: ${v} vs ${want}`);
      }
      const v = await out.loss.item(), want = fx!.scalar(run.loss);
      report[run.loss] = Math.abs(v - want) / Math.abs(want);
      assert.ok(report[run.loss] <= 1e-4, `${run.loss}: ${v} vs ${want}`);
      out.loss.backward();
      const got = await x.grad!.data() as Float32Array;
      for (const t of [x, out.loss, ...out.perAxis] as Tensor[]) t.dispose();
      const match = await matchGradient(p, y, idx, got, fx!.tensor(run.grad_input).data, 5e-4);
      report[run.grad_input] = match.error;
      assert.ok(
        match.error <= 5e-4,
        `${run.grad_input}: relative error ${match.error.toExponential(3)} > 5e-4 (near-ties flipped: ${
          JSON.stringify(match.flips)
        })`,
      );
      assert.ok(p.parameters().every((q) => q.grad === null), "the LPIPS weights are frozen");
      console.log(
        `perceptual ${run.tag} rel errors:`,
        JSON.stringify(report),
        `near-ties flipped: ${match.flips.length}`,
      );
      y.dispose();
      p.dispose();
    }
  },
});

Deno.test({
  name: "perceptual loss draws ⌊n·ratio⌋ distinct slices per axis from the seeded generator, reproducibly",
  ignore: !fx,
  fn: async () => {
    const cfg = fx!.meta.config;
    const x = fixtureTensor(fx!, cfg.lpips2d.source_input), y = fixtureTensor(fx!, cfg.lpips2d.source_target);
    for (const run of cfg.ratio_runs) {
      // n = B·size(axis) slices per axis; the reference's recorded draws have the same counts.
      const sizes = (run.axes as number[]).map((a) => x.shape[0] * x.shape[a]);
      const counts = sizes.map((n) => Math.floor(n * run.fake_3d_ratio));
      assert.deepEqual(counts, (run.slice_indices as string[]).map((n) => fx!.tensor(n).shape[0]), run.tag);
      const p = await loaded(run.fake_3d_ratio), q = await loaded(run.fake_3d_ratio);
      const a = noGrad(() => p.forward(x, y)), b = noGrad(() => q.forward(x, y));
      assert.deepEqual(a.indices.map((i) => i.length), counts, run.tag);
      for (const [k, n] of sizes.entries()) {
        assert.equal(new Set(a.indices[k]).size, a.indices[k].length);
        assert.ok(a.indices[k].every((i) => i >= 0 && i < n));
      }
      assert.deepEqual(a.indices, b.indices);
      assert.equal(await a.loss.item(), await b.loss.item());
      for (const t of [a.loss, b.loss, ...a.perAxis, ...b.perAxis]) t.dispose();
      p.dispose();
      q.dispose();
    }
    x.dispose();
    y.dispose();
  },
});

Deno.test({
  name:
    "torchvision SqueezeNet (features.N.*) and LPIPS head (linK.model.1.weight) files map onto the MONAI keys",
  ignore: !fx,
  fn: async () => {
    const ref = await loadStateDictFile(fx!.file("model.safetensors"));
    const trunk: StateDict = new Map(), heads: StateDict = new Map();
    for (const [k, v] of ref) {
      const t = /^perceptual_function\.net\.slice\d+\.(\d+\..+)$/.exec(k);
      if (t) trunk.set(`features.${t[1]}`, v);
      const h = /^perceptual_function\.(lin\d+\.model\.1\.weight)$/.exec(k);
      if (h) heads.set(h[1], v);
    }
    trunk.set("classifier.1.weight", { dtype: "float32", shape: [1], data: new Float32Array(1) });
    const p = new PerceptualLoss({ fake3dRatio: 0.2 });
    assert.equal(p.weightsLoaded, false);
    p.loadTorchvisionWeights(trunk, heads, "squeezenet1_1.pth");
    assert.equal(p.weightsLoaded, true);
    const sd = await p.stateDict();
    for (const [k, v] of ref) assert.deepEqual(sd.get(k)!.data, v.data, k);
    heads.delete("lin3.model.1.weight");
    assert.throws(
      () => new PerceptualLoss().loadTorchvisionWeights(trunk, heads, "heads.pth"),
      /lin3\.model\.1\.weight/,
    );
    p.dispose();
  },
});

Deno.test({
  name:
    "LPIPS runs on thin slices down to 17 px (ceil-mode pools on maps shorter than the kernel), not on 16",
  ignore: !fx,
  fn: async () => {
    const p = await loaded(1);
    // SqueezeNet: conv k3 s2, then three k3 s2 ceil-mode pools, each ⌈(L − 3)/2⌉ + 1 (≥ 1 window when L ≥ 2).
    const conv = (l: number) => Math.floor((l - 3) / 2) + 1, pool = (l: number) => Math.ceil((l - 3) / 2) + 1;
    for (const [h, w] of [[17, 20], [19, 33]]) {
      const a = tensor(randomArray(2 * h * w, 7, 0, 1), [2, 1, h, w]);
      const b = tensor(randomArray(2 * h * w, 8, 0, 1), [2, 1, h, w]);
      const sizes = [conv(h), conv(w)];
      const expected = [sizes];
      for (let i = 0; i < 3; i++) expected.push(expected.at(-1)!.map(pool));
      const taps = [0, 1, 2, 3, 3, 3, 3].map((i) => expected[i]);
      await noGrad(async () => {
        const feats = p.perceptualFunction.features(a);
        assert.deepEqual(feats.map((f) => f.shape.slice(2)), taps, `${h}×${w}`);
        const v = p.perceptualFunction.forward(a, b).value;
        assert.ok((await v.data()).every((x) => Number.isFinite(x) && x > 0), `${h}×${w}: LPIPS value`);
        for (const t of [...feats, v]) t.dispose();
      });
      a.dispose();
      b.dispose();
    }
    const thin = tensor(new Float32Array(16 * 20), [1, 1, 16, 20]);
    assert.throws(() => noGrad(() => p.perceptualFunction.features(thin)), /maxPool2d: output size \[0,/);
    thin.dispose();
    p.dispose();
  },
});

Deno.test({
  name:
    "flipping a max-pool window moves only that slice's gradient, not the loss (the near-tie mechanism works)",
  ignore: !fx,
  fn: async () => {
    const cfg = fx!.meta.config, run = cfg.ratio_runs.at(-1);
    const p = await loaded(run.fake_3d_ratio);
    const x = fixtureTensor(fx!, cfg.lpips2d.source_input), y = fixtureTensor(fx!, cfg.lpips2d.source_target);
    const idx = (run.slice_indices as string[]).map((n) => fx!.tensor(n).data) as unknown as SliceIndices;
    // A loose gap finds ordinary close windows; flipping the closest must behave as a true tie would.
    const ties = await findNearTies(p, x, idx, 1e-2);
    assert.ok(ties.length > 0, "some window within 1% of a tie");
    const t = ties.reduce((a, b) =>
      (a.winnerValue - a.runnerUpValue) / a.winnerValue <= (b.winnerValue - b.runnerUpValue) / b.winnerValue
        ? a
        : b
    );
    const base = await lossAndGradient(p, y, idx, []), flipped = await lossAndGradient(p, y, idx, [t]);
    const gap = (t.winnerValue - t.runnerUpValue) / t.winnerValue;
    assert.ok(
      Math.abs(flipped.loss - base.loss) <= Math.max(10 * gap, 1e-5) * Math.abs(base.loss),
      `loss ${flipped.loss} vs ${base.loss}`,
    );
    // The changed gradient lies in the one slice (plane along the tie's axis) that holds the flipped window.
    const [, C, ...dims] = x.shape, axis = t.call, picked = idx[axis][t.batch];
    const [batch, slice] = [Math.floor(picked / dims[axis]), picked % dims[axis]];
    let changed = 0, outside = 0;
    for (let i = 0; i < base.grad.length; i++) {
      if (base.grad[i] === flipped.grad[i]) continue;
      changed++;
      const vox = [
        Math.floor(i / (dims[1] * dims[2])) % dims[0],
        Math.floor(i / dims[2]) % dims[1],
        i % dims[2],
      ];
      const b = Math.floor(i / (C * dims[0] * dims[1] * dims[2]));
      if (vox[axis] !== slice || b !== batch) outside++;
    }
    assert.ok(changed > 0, "the flip moved the gradient");
    assert.equal(outside, 0, "only the flipped slice's gradient moved");
    for (const u of [x, y]) u.dispose();
    p.dispose();
  },
});
