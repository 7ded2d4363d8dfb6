/**
 * AutoencoderKL configurations no fixture covers: two levels with one channel per norm group at the first, per-level
 * residual block counts, attention at the second level, decoder non-local attention, batch 2 and an odd,
 * non-cubic input. Checked by internal consistency: the shapes MONAI's layer rules give, the input gradient by
 * finite differences, and exactly the parameters whose gradient is mathematically zero coming out zero (the
 * premise of the zero-gradient rule in tests/gradients.ts).
 */
import assert from "node:assert/strict";
import { add, affine, gradcheck, mul, sum, type Tensor, tensor } from "../../../tensor/mod.ts";
import {
  AEKLResBlock,
  AutoencoderKL,
  GroupNorm,
  HostRng,
  klLoss,
  SpatialAttentionBlock,
} from "../../../nn/mod.ts";
import { gradientScale, maxAbs, randomArray, setup, ZERO_GRAD_REL } from "../_helpers.ts";

await setup();

const config = {
  channels: [2, 4],
  latentChannels: 1,
  numResBlocks: [1, 2],
  normNumGroups: 2,
  attentionLevels: [false, true],
  withEncoderNonlocalAttn: false,
  withDecoderNonlocalAttn: true,
};
const input = [2, 1, 7, 6, 5];
/** AEKLDownsample: pad 1 at the end, conv k3 s2 p0 → ⌊(L + 1 − 3)/2⌋ + 1; the decoder's upsample doubles. */
const latentDims = input.slice(2).map((l) => Math.floor((l - 2) / 2) + 1);

async function build(seed: number): Promise<AutoencoderKL> {
  const ae = new AutoencoderKL({ ...config, rng: new HostRng(seed) });
  // As the fixtures do: replace the zero biases and unit norm weights of the init by small random values.
  const sd = await ae.stateDict();
  let i = 0;
  for (const [k, v] of sd) {
    if (k.endsWith(".bias")) v.data = randomArray(v.data.length, 500 + i++, -0.1, 0.1);
    else if (/norm\d?\.weight$/.test(k)) v.data = randomArray(v.data.length, 500 + i++, 0.9, 1.1);
  }
  ae.loadStateDict(sd, { strict: true });
  return ae;
}

/**
 * The parameters that cannot move any loss, by structure: every attention key bias; conv1's bias in a residual
 * block whose norm2 has one channel per group; and, when the decoder's output norm has one channel per group,
 * the conv2 / nin_shortcut biases of the residual block feeding it.
 */
function mathematicallyZero(ae: AutoencoderKL): Set<Tensor> {
  const zero = new Set<Tensor>();
  const oneChannelPerGroup = (n: GroupNorm) => n.numChannels === n.numGroups;
  for (const blocks of [ae.encoder.blocks.items, ae.decoder.blocks.items]) {
    for (const b of blocks) {
      if (b instanceof SpatialAttentionBlock && b.attn.toK?.bias) zero.add(b.attn.toK.bias);
      if (b instanceof AEKLResBlock && oneChannelPerGroup(b.norm2)) zero.add(b.conv1.conv.bias!);
    }
  }
  const d = ae.decoder.blocks.items, norm = d[d.length - 2], last = d[d.length - 3];
  assert.ok(
    norm instanceof GroupNorm && last instanceof AEKLResBlock,
    "decoder ends ResBlock, GroupNorm, conv",
  );
  if (oneChannelPerGroup(norm)) {
    zero.add(last.conv2.conv.bias!);
    if (last.ninShortcut) zero.add(last.ninShortcut.conv.bias!);
  }
  return zero;
}

Deno.test("AutoencoderKL [2, 4] channels, 1 channel per group, odd input: shapes, and exactly the predicted zero gradients", async () => {
  const ae = await build(1);
  const x = tensor(randomArray(input.reduce((a, b) => a * b, 1), 3), input).requireGrad();
  const eps = tensor(randomArray(2 * latentDims.reduce((a, b) => a * b, 1), 4), [2, 1, ...latentDims]);
  const { reconstruction, zMu, zSigma } = ae.forward(x, eps);
  assert.deepEqual([...zMu.shape], [2, 1, ...latentDims]);
  assert.deepEqual([...reconstruction.shape], [2, 1, ...latentDims.map((l) => 2 * l)]);
  const w = tensor(randomArray(reconstruction.size, 6), [...reconstruction.shape]);
  const loss = add(sum(mul(reconstruction, w)), affine(klLoss(zMu, zSigma), 0.1));
  (loss as Tensor).backward();
  const named = ae.namedParameters();
  const grads = await Promise.all(named.map(([, p]) => p.grad!.data()));
  const scale = gradientScale(grads);
  const expected = mathematicallyZero(ae);
  assert.ok(expected.size >= 5, `the config has zero-gradient biases (${expected.size})`);
  const wrong: string[] = [];
  named.forEach(([k, p], i) => {
    const rel = maxAbs(grads[i]) / scale;
    if (expected.has(p) !== (rel <= ZERO_GRAD_REL)) wrong.push(`${k} (${rel.toExponential(1)})`);
  });
  assert.deepEqual(wrong, [], "parameters whose gradient is zero exactly when the structure says so");
  for (const t of [x, eps, reconstruction, zMu, zSigma, w, loss as Tensor]) t.dispose();
  ae.dispose();
});

Deno.test("AutoencoderKL [2, 4] channels, odd input: the input gradient passes gradcheck", async () => {
  const ae = await build(2);
  const eps = tensor(randomArray(latentDims.reduce((a, b) => a * b, 1), 8), [1, 1, ...latentDims]);
  const shape = [1, ...input.slice(1)], n = shape.reduce((a, b) => a * b, 1);
  const r = await gradcheck((t) => ae.forward(t, eps).reconstruction, [randomArray(n, 9)], [shape], {
    eps: 1e-2,
    maxProbes: 12,
  });
  assert.ok(r.maxRelError < 5e-3, `gradcheck ${r.maxRelError}`);
  eps.dispose();
  ae.dispose();
});
