/**
 * PatchDiscriminator configurations no fixture covers (other num_layers_d, channel counts, in/out channels,
 * batch sizes, odd non-cubic inputs): every layer's output against a plain-TS forward of MONAI's structure
 * (fixtures README / notes: conv k4 p1, stride 2 except the last middle layer, InstanceNorm eps 1e-5 without
 * affine, LeakyReLU 0.2, final conv k4 p1 s1 with bias), and the input gradient by finite differences.
 */
import assert from "node:assert/strict";
import { gradcheck, tensor } from "../../../tensor/mod.ts";
import { HostRng, PatchDiscriminator } from "../../../nn/mod.ts";
import type { StateDict } from "../../../nn/serialization/types.ts";
import { refConv3d } from "../../tensor/ops/_ref.ts";
import { assertRel, randomArray, setup } from "../_helpers.ts";

await setup();

interface Config {
  numLayersD: number;
  channels: number;
  inChannels: number;
  outChannels: number;
  input: number[];
}

/** conv k4 p1 output length. */
const convLen = (l: number, s: number) => Math.floor((l + 2 - 4) / s) + 1;

function refInstanceNorm(x: Float32Array, shape: number[]): Float32Array {
  const [B, C] = shape, n = shape.slice(2).reduce((a, b) => a * b, 1), y = new Float32Array(x.length);
  for (let p = 0; p < B * C; p++) {
    let m = 0, v = 0;
    for (let i = 0; i < n; i++) m += x[p * n + i] / n;
    for (let i = 0; i < n; i++) v += (x[p * n + i] - m) ** 2 / n;
    for (let i = 0; i < n; i++) y[p * n + i] = (x[p * n + i] - m) / Math.sqrt(v + 1e-5);
  }
  return y;
}

/** MONAI's PatchDiscriminator forward in plain TS: every child's output. */
function refForward(c: Config, x: Float32Array, sd: StateDict): { data: Float32Array; shape: number[] }[] {
  const outs: { data: Float32Array; shape: number[] }[] = [];
  let h = x, shape = c.input;
  const layer = (key: string, stride: number, norm: boolean, act: boolean) => {
    const w = sd.get(`${key}.conv.weight`)!, b = sd.get(`${key}.conv.bias`);
    const dims = shape.slice(2).map((l) => convLen(l, stride));
    const ws = w.shape as number[];
    let y = refConv3d(
      h,
      shape,
      w.data as Float32Array,
      ws,
      (b?.data as Float32Array) ?? null,
      [stride, stride, stride],
      [
        1,
        1,
        1,
      ],
      [1, 1, 1],
      dims,
    );
    shape = [shape[0], ws[0], ...dims];
    if (norm) y = refInstanceNorm(y, shape);
    if (act) y = y.map((v) => (v > 0 ? v : 0.2 * v));
    h = y;
    outs.push({ data: y, shape });
  };
  layer("initial_conv", 2, false, true);
  for (let l = 0; l < c.numLayersD; l++) layer(`${l}`, l === c.numLayersD - 1 ? 1 : 2, true, true);
  layer("final_conv", 1, false, false);
  return outs;
}

const configs: Config[] = [
  { numLayersD: 1, channels: 3, inChannels: 2, outChannels: 1, input: [2, 2, 11, 9, 10] },
  { numLayersD: 2, channels: 2, inChannels: 1, outChannels: 2, input: [3, 1, 19, 16, 21] },
  { numLayersD: 4, channels: 2, inChannels: 1, outChannels: 1, input: [1, 1, 49, 50, 48] },
];

for (const [ci, c] of configs.entries()) {
  Deno.test(`PatchDiscriminator num_layers_d ${c.numLayersD}, channels ${c.channels}, in ${c.inChannels}, out ${c.outChannels}, x [${c.input}]: every layer matches the TS forward`, async () => {
    const d = new PatchDiscriminator({ ...c, norm: "INSTANCE", rng: new HostRng(ci) });
    // Random non-zero weights and biases everywhere (the init zeroes biases), loaded strictly.
    const sd: StateDict = new Map(
      d.stateDictShapes().map(([k, shape], i) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return [k, { dtype: "float32" as const, shape, data: randomArray(n, 1000 * ci + i, -0.3, 0.3) }];
      }),
    );
    d.loadStateDict(sd, { strict: true });
    const n = c.input.reduce((a, b) => a * b, 1), xd = randomArray(n, 77 + ci);
    const x = tensor(xd, c.input);
    const outs = d.forward(x);
    const ref = refForward(c, xd, sd);
    assert.equal(outs.length, c.numLayersD + 2, "initial_conv, the middle layers and final_conv");
    for (const [i, r] of ref.entries()) {
      assert.deepEqual([...outs[i].shape], r.shape, `layer ${i} shape`);
      await assertRel(outs[i], r.data, 1e-4, `layer ${i}`);
    }
    for (const t of [x, ...outs]) t.dispose();
    d.dispose();
  });
}

Deno.test("PatchDiscriminator input gradient (odd input, 1 middle layer, 2 channels) passes gradcheck", async () => {
  const d = new PatchDiscriminator({
    numLayersD: 1,
    channels: 2,
    inChannels: 1,
    norm: "INSTANCE",
    rng: new HostRng(9),
  });
  const shape = [1, 1, 9, 7, 8];
  const r = await gradcheck((t) => d.forward(t).at(-1)!, [randomArray(9 * 7 * 8, 5)], [shape], {
    eps: 1e-2,
    maxProbes: 16,
  });
  assert.ok(r.maxRelError < 5e-3, `gradcheck ${r.maxRelError}`);
  d.dispose();
});
