/**
 * Per-pass conv timing (forward, input gradient, weight gradient) on the active backend, for tuning the conv
 * kernels: `deno run -A bench/conv_passes.ts [--backend wasm] [--shapes small|all|unet]`. Each pass is timed alone
 * through the backend seam (its own sync), so the numbers split `conv3d_fwd_bwd` of bench/run.ts.
 */
import { parseArgs } from "node:util";
import * as T from "../tensor/mod.ts";
import type { ConvGeometry } from "../tensor/backend/mod.ts";
import { record, timeMedian } from "./measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { backend: { type: "string" }, shapes: { type: "string", default: "small" } },
});
await T.init({ backend: values.backend ? T.parseBackendChoice(values.backend, "--backend") : undefined });
console.error(`conv passes: ${T.backendSummary()}`);

interface Case {
  label: string;
  C: number;
  Co: number;
  S: number;
  k: number;
  stride: number;
  pad: number;
  runs: number;
}
const cases: Case[] = [{
  label: "1x32x32^3 32->32 k3",
  C: 32,
  Co: 32,
  S: 32,
  k: 3,
  stride: 1,
  pad: 1,
  runs: 5,
}];
if (values.shapes === "all") {
  cases.push(
    { label: "1x256x16^3 256->256 k3", C: 256, Co: 256, S: 16, k: 3, stride: 1, pad: 1, runs: 3 },
    { label: "1x64x65^3 64->64 k3 s2", C: 64, Co: 64, S: 65, k: 3, stride: 2, pad: 0, runs: 3 },
    { label: "1x64x64^3 64->64 k3", C: 64, Co: 64, S: 64, k: 3, stride: 1, pad: 1, runs: 1 },
  );
}

if (values.shapes === "unet") {
  // The tiny UNet's small levels (its latent is 8³): the small-convolution path, many runs (µs each).
  cases.length = 0;
  const shapes = [[64, 32, 4, 1], [32, 32, 4, 1], [32, 32, 2, 1], [64, 32, 2, 1], [16, 16, 8, 2], [
    32,
    32,
    4,
    2,
  ]];
  // Its 8³ level: where the small path and the direct one meet.
  shapes.push([16, 16, 8, 1], [32, 32, 8, 1], [48, 16, 8, 1], [3, 16, 8, 1], [16, 3, 8, 1]);
  for (const [C, Co, S, stride] of shapes) {
    cases.push({
      label: `1x${C}x${S}^3 ${C}->${Co} k3${stride > 1 ? " s2" : ""}`,
      C,
      Co,
      S,
      k: 3,
      stride,
      pad: 1,
      runs: 41,
    });
  }
}

for (const c of cases) {
  const o = Math.floor((c.S + 2 * c.pad - c.k) / c.stride) + 1;
  const g: ConvGeometry = {
    B: 1,
    Ci: c.C,
    Co: c.Co,
    inDims: [c.S, c.S, c.S],
    outDims: [o, o, o],
    kernel: [c.k, c.k, c.k],
    stride: [c.stride, c.stride, c.stride],
    padBefore: [c.pad, c.pad, c.pad],
    dilation: [1, 1, 1],
  };
  const x = T.randn([1, c.C, c.S, c.S, c.S], { seed: 4, stream: "x" });
  const w = T.randn([c.Co, c.C, c.k, c.k, c.k], { seed: 4, stream: "w" });
  const dy = T.randn([1, c.Co, o, o, o], { seed: 4, stream: "dy" });
  const flops = 2 * c.Co * c.C * c.k ** 3 * o ** 3;
  const b = T.backend();
  const passes: [string, () => void][] = [
    ["conv_fwd", () => b.conv(x.buffer(), w.buffer(), null, T.empty(dy.shape).buffer(), g)],
    ["conv_input_grad", () => b.convInputGrad(dy.buffer(), w.buffer(), T.empty(x.shape).buffer(), g)],
    ["conv_weight_grad", () => b.convWeightGrad(x.buffer(), dy.buffer(), T.empty(w.shape).buffer(), g)],
  ];
  for (const [name, run] of passes) {
    // The minimum too: on a shared host it is the steadier figure for A/B comparisons.
    const times: number[] = [];
    const ms = await timeMedian(async () => {
      const t0 = performance.now();
      T.scope(run);
      await b.sync();
      times.push(performance.now() - t0);
    }, c.runs);
    const min = Math.min(...times);
    console.log(JSON.stringify(record(name, c.label, ms, flops, null, { minMs: Number(min.toFixed(3)) })));
  }
  for (const t of [x, w, dy]) t.dispose();
}
