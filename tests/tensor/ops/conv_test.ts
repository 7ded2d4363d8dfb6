import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { assertClose, randomArray } from "../_helpers.ts";
import { refConv3d, refConv3dGrads } from "./_ref.ts";
import { assertConvMatchesRef, SMALL_CONV_CASES } from "./_conv_check.ts";

await T.init();

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

Deno.test("conv3d matches the TS reference: odd non-cubic shapes, strides, asymmetric padding, dilation", async () => {
  const cases: [number[], number[], number[], number[], number[], number[]][] = [
    // x shape, w shape, stride, pad before, pad after, dilation
    [[2, 3, 5, 6, 7], [5, 3, 3, 2, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    [[1, 4, 7, 5, 9], [6, 4, 3, 3, 3], [2, 1, 2], [0, 1, 0], [1, 0, 1], [1, 1, 1]],
    [[1, 2, 6, 5, 8], [3, 2, 2, 3, 2], [1, 2, 1], [2, 0, 1], [1, 1, 2], [2, 1, 2]],
    [[2, 9, 4, 4, 5], [10, 9, 1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]],
    [[1, 3, 9, 8, 7], [4, 3, 4, 4, 4], [2, 2, 2], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    // Wide enough for the full 16-channel × 16-voxel register tile plus ragged edges.
    [[1, 17, 3, 4, 37], [20, 17, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    [[2, 9, 5, 3, 35], [12, 9, 3, 3, 3], [1, 2, 2], [1, 1, 1], [1, 0, 1], [1, 1, 1]],
    // Direct path with several output rows per chunk, taken in groups that stop at each depth plane's end.
    [[1, 3, 8, 7, 10], [5, 3, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  ];
  for (const [xs, ws, stride, before, after, dilation] of cases) {
    const x = randomArray(size(xs), 1), w = randomArray(size(ws), 2), b = randomArray(ws[0], 3);
    const y = T.conv3d(T.tensor(x, xs), T.tensor(w, ws), T.tensor(b, [ws[0]]), {
      stride,
      padding: { before, after },
      dilation,
    });
    const ref = refConv3d(x, xs, w, ws, b, stride, before, dilation, y.shape.slice(2));
    assertClose(await y.data(), ref, 1e-4, 1e-5, `conv3d x [${xs}] w [${ws}] s [${stride}]`);
  }
});

Deno.test("conv3d gradients: gradcheck for input, weight and bias (stride 1, stride 2, dilation, asymmetric pad)", async () => {
  const cases: [number[], number[], T.ConvOptions][] = [
    [[1, 2, 4, 3, 5], [3, 2, 3, 3, 3], { padding: 1 }],
    [[2, 3, 5, 4, 6], [2, 3, 3, 3, 3], { stride: 2, padding: { before: [0, 0, 0], after: [1, 1, 1] } }],
    [[1, 2, 6, 5, 5], [3, 2, 2, 3, 2], { stride: [1, 2, 1], padding: [1, 0, 2], dilation: [2, 1, 2] }],
    [[1, 3, 7, 6, 5], [2, 3, 4, 4, 4], { stride: 2, padding: 1 }],
    [[1, 9, 3, 3, 35], [18, 9, 3, 3, 3], { stride: [1, 1, 2], padding: 1 }],
    // Stride and dilation on the same axis (the parity phases' taps then step by s / gcd(s, dilation)).
    [[1, 2, 9, 7, 10], [2, 2, 3, 2, 3], { stride: [2, 3, 2], dilation: [2, 2, 3], padding: [2, 1, 0] }],
  ];
  for (const [xs, ws, opts] of cases) {
    const r = await T.gradcheck(
      (x, w, b) => T.conv3d(x, w, b, opts),
      [randomArray(size(xs), 4), randomArray(size(ws), 5), randomArray(ws[0], 6)],
      [xs, ws, [ws[0]]],
      { maxProbes: 12 },
    );
    assert.ok(r.maxRelError < 2e-3, `conv3d x [${xs}] w [${ws}] ${JSON.stringify(opts)}: ${r.maxRelError}`);
  }
});

Deno.test("conv3d input and weight gradients match the TS reference across the kernels' tile edges", async () => {
  const cases: [number[], number[], number[], number[], number[], number[]][] = [
    // x shape, w shape, stride, pad before, pad after, dilation
    // Direct paths: odd channel counts (Co, Ci not multiples of the 6-row or 4-channel tiles), W not a multiple
    // of the 8-voxel panel or 4-voxel vector, batch 2, asymmetric padding.
    [[2, 5, 4, 3, 13], [7, 5, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    [[1, 3, 3, 4, 9], [13, 3, 3, 2, 3], [1, 1, 1], [2, 1, 0], [0, 0, 2], [1, 1, 1]],
    [[1, 9, 2, 3, 35], [18, 9, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    [[2, 4, 3, 3, 8], [6, 4, 1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]],
    // Channel blocks tiled 6 + 6 + 4 (16) and 6 + 4 (10), and two 4-row tiles (8).
    [[1, 10, 3, 3, 16], [16, 10, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    [[1, 8, 2, 3, 11], [8, 8, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    // Several output rows per chunk, grouped up to each depth plane's end (forward and input gradient).
    [[1, 3, 8, 7, 10], [5, 3, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    // A 2-wide kernel: direct, one offset per tap (no 3-tap runs), weight gradient in 2×6 tiles.
    [[1, 3, 4, 5, 12], [4, 3, 2, 3, 2], [1, 1, 1], [1, 1, 1], [0, 1, 0], [1, 1, 1]],
    // More channels than one block (120 + 10 outputs, 120 + 6 inputs; weight-gradient blocks of 64).
    [[1, 126, 2, 2, 9], [130, 126, 1, 3, 3], [1, 1, 1], [0, 1, 1], [0, 1, 1], [1, 1, 1]],
    // Padding larger than the kernel reach (the input gradient would crop: gather path), and too-narrow rows.
    [[1, 2, 3, 3, 9], [3, 2, 2, 2, 2], [1, 1, 1], [2, 2, 2], [0, 0, 0], [1, 1, 1]],
    [[1, 3, 4, 4, 5], [4, 3, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    // Strided and dilated (gather and scatter paths).
    [[2, 3, 7, 6, 17], [5, 3, 3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    [[1, 2, 6, 5, 12], [3, 2, 2, 3, 2], [1, 1, 1], [2, 0, 1], [1, 1, 2], [2, 1, 2]],
  ];
  for (const [xs, ws, stride, before, after, dilation] of cases) {
    const x = randomArray(size(xs), 7), w = randomArray(size(ws), 8);
    const xt = T.tensor(x, xs).requireGrad(), wt = T.tensor(w, ws).requireGrad();
    const y = T.conv3d(xt, wt, null, { stride, padding: { before, after }, dilation });
    const dy = randomArray(y.size, 9);
    y.backward(T.tensor(dy, y.shape));
    const ref = refConv3dGrads(x, xs, w, ws, dy, stride, before, dilation, y.shape.slice(2));
    const what = `x [${xs}] w [${ws}] s [${stride}] pad [${before}]/[${after}] d [${dilation}]`;
    assertClose(await xt.grad!.data(), ref.dx, 1e-4, 1e-5, `conv3d dx ${what}`);
    assertClose(await wt.grad!.data(), ref.dw, 1e-4, 1e-5, `conv3d dw ${what}`);
    for (const t of [xt, wt, y]) t.dispose();
    xt.grad!.dispose();
    wt.grad!.dispose();
  }
});

Deno.test("conv3d with few output voxels (4³, 2³, strided downsampling) matches the TS reference, with gradients", async () => {
  for (const [i, c] of SMALL_CONV_CASES.entries()) await assertConvMatchesRef(c, 20 + 4 * i);
});

Deno.test("conv3d whose padded source is too large for the small path (strided: implicit-GEMM gather) matches", async () => {
  // 9 channels × 35³ padded voxels is past the small path's per-thread copy (2¹⁸ floats).
  await assertConvMatchesRef([[1, 9, 33, 33, 33], [4, 9, 3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], [
    1,
    1,
    1,
  ]], 90);
});

Deno.test("conv3d with a wide input (340·27 taps: the WASM direct path's channel blocks shrink to keep the packed weights in cache) matches", async () => {
  // 340·27·4 bytes per output channel: 4 MiB holds 114 of them, so the forward runs direct in two blocks of 114
  // and 14 output channels (before, 120 would not fit and it fell back to the packed implicit GEMM).
  await assertConvMatchesRef(
    [[1, 340, 3, 3, 8], [128, 340, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [
      1,
      1,
      1,
    ]],
    94,
    "",
    1e-4,
  );
});

Deno.test("conv2d matches conv3d with unit depth and passes gradcheck", async () => {
  const xs = [2, 3, 7, 6], ws = [4, 3, 3, 2];
  const x = randomArray(size(xs), 7), w = randomArray(size(ws), 8), b = randomArray(4, 9);
  const y = T.conv2d(T.tensor(x, xs), T.tensor(w, ws), T.tensor(b, [4]), { stride: [2, 1], padding: [1, 0] });
  const ref = refConv3d(x, [2, 3, 1, 7, 6], w, [4, 3, 1, 3, 2], b, [1, 2, 1], [0, 1, 0], [1, 1, 1], [
    1,
    ...y.shape.slice(2),
  ]);
  assert.deepEqual([...y.shape], [2, 4, 4, 5]);
  assertClose(await y.data(), ref, 1e-4, 1e-5, "conv2d");
  const r = await T.gradcheck((a, c, d) => T.conv2d(a, c, d, { padding: 1 }), [x, w, b], [xs, ws, [4]], {
    maxProbes: 12,
  });
  assert.ok(r.maxRelError < 2e-3, `conv2d gradcheck ${r.maxRelError}`);
});

Deno.test("convTranspose3d is the adjoint of conv3d and passes gradcheck", async () => {
  for (
    const [xs, ws, stride, padding, outputPadding] of [
      [[1, 3, 3, 4, 2], [3, 2, 2, 2, 2], 2, 0, 0],
      [[2, 2, 3, 2, 3], [2, 3, 3, 3, 3], 2, 1, 1],
      [[1, 2, 4, 3, 3], [2, 2, 3, 3, 3], 1, 1, 0],
    ] as [number[], number[], number, number, number][]
  ) {
    const x = randomArray(size(xs), 10), w = randomArray(size(ws), 11);
    const y = T.convTranspose3d(T.tensor(x, xs), T.tensor(w, ws), null, { stride, padding, outputPadding });
    // <convT(x), z> == <x, conv(z)> for any z.
    const z = randomArray(y.size, 12);
    const cz = T.conv3d(T.tensor(z, [...y.shape]), T.tensor(w, ws), null, {
      stride,
      padding: {
        before: [padding, padding, padding],
        after: [padding - outputPadding, padding - outputPadding, padding - outputPadding].map((v) =>
          Math.max(v, 0)
        ),
      },
    });
    const yd = await y.data(), czd = await cz.data();
    let lhs = 0, rhs = 0;
    for (let i = 0; i < yd.length; i++) lhs += yd[i] * z[i];
    for (let i = 0; i < x.length; i++) rhs += x[i] * czd[i];
    assert.ok(Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(lhs)), `adjoint ${lhs} vs ${rhs}`);
    const r = await T.gradcheck(
      (a, c, d) => T.convTranspose3d(a, c, d, { stride, padding, outputPadding }),
      [x, w, randomArray(ws[1], 13)],
      [xs, ws, [ws[1]]],
      { maxProbes: 10 },
    );
    assert.ok(r.maxRelError < 2e-3, `convTranspose3d gradcheck ${r.maxRelError}`);
  }
});

Deno.test("conv ops reject bad input before any GPU work, naming op and shapes", () => {
  const x = T.zeros([1, 3, 4, 4, 4]);
  assert.throws(
    () => T.conv3d(x, T.zeros([2, 4, 3, 3, 3]) as T.Tensor),
    /conv3d: input has 3 channels.*\[2,4,3,3,3\]/,
  );
  assert.throws(
    () => T.conv3d(x, T.zeros([2, 3, 5, 5, 5]) as T.Tensor),
    /conv3d: kernel \[5,5,5\].*larger than the padded input \[4,4,4\]/,
  );
  assert.throws(
    () => T.conv3d(T.zeros([3, 4, 4, 4]), T.zeros([2, 3, 3, 3, 3])),
    /conv3d: input must be 5-D.*\[3,4,4,4\]/,
  );
  assert.throws(
    () => T.conv3d(x, T.zeros([2, 3, 3, 3, 3]), T.zeros([3])),
    /conv3d: bias \[3\] must be \[2\]/,
  );
  assert.throws(() => T.conv2d(x, T.zeros([2, 3, 3, 3])), /conv2d: input must be 4-D/);
  assert.throws(
    () => T.convTranspose3d(x, T.zeros([4, 2, 2, 2, 2]) as T.Tensor, null, { stride: 2 }),
    /convTranspose3d: input has 3 channels/,
  );
  assert.throws(
    () => T.conv3d(x, T.zeros([2, 3, 3, 3, 3]) as T.Tensor, null, { stride: 0 }),
    /conv3d: stride must be/,
  );
});
