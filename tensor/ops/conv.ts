/** Convolutions: conv3d, conv2d (unit depth) and convTranspose3d, with gradients for input, weight and bias. */
import { backend } from "../backend/mod.ts";
import { record } from "../autograd.ts";
import { empty, scope, type Tensor } from "../tensor.ts";
import type { AsShape, Shape } from "../shape.ts";
import type { CheckWindow, Conv3dShape, ConvTranspose3dShape } from "../window_shape.ts";
import type { ConvGeometry } from "../backend/geometry.ts";
import { reshape } from "./movement.ts";

/** Padding: one number for every side, one per axis, or explicit before/after per axis. */
export type ConvPadding = number | number[] | { before: number[]; after: number[] };

/** Options of conv3d / conv2d. */
export interface ConvOptions {
  /** Step per spatial axis (one number for all). */
  stride?: number | number[];
  /** Zero padding (see ConvPadding). */
  padding?: ConvPadding;
  /** Kernel dilation per spatial axis. */
  dilation?: number | number[];
}

/** Options of convTranspose3d. */
export interface ConvTransposeOptions {
  /** Upsampling step per spatial axis. */
  stride?: number | number[];
  /** Implicit padding removed from each side of the output. */
  padding?: number | number[];
  /** Extra size added to one side of the output (PyTorch's output_padding). */
  outputPadding?: number | number[];
  /** Kernel dilation per spatial axis. */
  dilation?: number | number[];
}

function perAxis(
  op: string,
  name: string,
  v: number | number[] | undefined,
  n: number,
  dflt: number,
  min: number,
): number[] {
  const a = v === undefined ? new Array(n).fill(dflt) : typeof v === "number" ? new Array(n).fill(v) : [...v];
  if (a.length !== n || a.some((x) => !Number.isInteger(x) || x < min)) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} or ${n} of them, got ${JSON.stringify(v)}`);
  }
  return a;
}

function paddings(op: string, p: ConvPadding | undefined, n: number): { before: number[]; after: number[] } {
  if (p !== undefined && typeof p === "object" && !Array.isArray(p)) {
    return {
      before: perAxis(op, "padding.before", p.before, n, 0, 0),
      after: perAxis(op, "padding.after", p.after, n, 0, 0),
    };
  }
  const a = perAxis(op, "padding", p as number | number[] | undefined, n, 0, 0);
  return { before: a, after: a };
}

function checkFloat(op: string, ...ts: (Tensor | null)[]): void {
  for (const t of ts) {
    if (t && t.dtype !== "float32") throw new Error(`${op}: needs float32, got ${t.dtype} [${t.shape}]`);
  }
}

/** Sum of dy over batch and space → [Co] (the bias gradient). */
function biasGrad(dy: Tensor, co: number): Tensor {
  const B = dy.shape[0], S = dy.size / (B * co);
  using perBatch = empty([B, co]);
  backend().reduce("sum", dy.buffer("conv bias grad"), perBatch.buffer(), B * co, S, 1);
  const db = empty([co]);
  backend().reduce("sum", perBatch.buffer(), db.buffer(), 1, B, co);
  return db;
}

/** The shared core of conv3d / conv2d on 5-D views. */
function convCore(
  op: string,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  g: ConvGeometry,
  outShape: number[],
): Tensor {
  const y = empty(outShape);
  backend().conv(x.buffer(op), weight.buffer(op), bias ? bias.buffer(op) : null, y.buffer(), g);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, op, inputs, [x, weight], (gy, [sx, sw]) => {
    const dx = x.requiresGrad ? empty(x.shape) : null;
    if (dx) backend().convInputGrad(gy.buffer(), sw.buffer(), dx.buffer(), g);
    const dw = weight.requiresGrad ? empty(weight.shape) : null;
    if (dw) backend().convWeightGrad(sx.buffer(), gy.buffer(), dw.buffer(), g);
    const db = bias?.requiresGrad ? biasGrad(gy, g.Co) : null;
    return bias ? [dx, dw, db] : [dx, dw];
  });
}

function geometry(
  op: string,
  xs: readonly number[],
  ws: readonly number[],
  opts: ConvOptions,
  n: number,
): { g: ConvGeometry; out: number[] } {
  const stride = perAxis(op, "stride", opts.stride, n, 1, 1);
  const dilation = perAxis(op, "dilation", opts.dilation, n, 1, 1);
  const { before, after } = paddings(op, opts.padding, n);
  const spatial = xs.slice(2), kernel = ws.slice(2);
  const out = spatial.map((d, i) => {
    const span = dilation[i] * (kernel[i] - 1) + 1;
    const padded = d + before[i] + after[i];
    if (span > padded) {
      throw new Error(
        `${op}: kernel [${kernel}] (dilation [${dilation}]) is larger than the padded input [${
          spatial.map((v, j) => v + before[j] + after[j])
        }] (x [${xs}], padding before [${before}] after [${after}])`,
      );
    }
    return Math.floor((padded - span) / stride[i]) + 1;
  });
  const pad3 = (a: number[], v: number) => [...new Array(3 - n).fill(v), ...a];
  return {
    g: {
      B: xs[0],
      Ci: xs[1],
      Co: ws[0],
      inDims: pad3(spatial, 1),
      outDims: pad3(out, 1),
      kernel: pad3(kernel, 1),
      stride: pad3(stride, 1),
      padBefore: pad3(before, 0),
      dilation: pad3(dilation, 1),
    },
    out: [xs[0], ws[0], ...out],
  };
}

function checkConvArgs(
  op: string,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  n: number,
  wName: string,
): void {
  if (x.rank !== n + 2) {
    throw new Error(
      `${op}: input must be ${n + 2}-D [B, C, ${n === 3 ? "D, H, W" : "H, W"}], got [${x.shape}]`,
    );
  }
  if (weight.rank !== n + 2) {
    throw new Error(`${op}: weight must be ${n + 2}-D ${wName}, got [${weight.shape}]`);
  }
  checkFloat(op, x, weight, bias);
}

/**
 * 3-D convolution: x [B, Ci, D, H, W], weight [Co, Ci, kd, kh, kw], bias [Co] | null →
 * [B, Co, D', H', W'] with D' = ⌊(D + padBefore + padAfter − dilation·(kd − 1) − 1) / stride⌋ + 1.
 */
export function conv3d<X extends Shape, W extends Shape, const O extends ConvOptions = Record<never, never>>(
  x: Tensor<X>,
  weight: Tensor<W> & CheckWindow<Conv3dShape<X, W, O>>,
  bias: Tensor | null = null,
  opts: O = {} as O,
): Tensor<AsShape<Conv3dShape<X, W, O>>> {
  checkConvArgs("conv3d", x, weight, bias, 3, "[Co, Ci, kd, kh, kw]");
  if (weight.shape[1] !== x.shape[1]) {
    throw new Error(
      `conv3d: input has ${x.shape[1]} channels but weight [${weight.shape}] expects ${
        weight.shape[1]
      } (x [${x.shape}])`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new Error(`conv3d: bias [${bias.shape}] must be [${weight.shape[0]}] for weight [${weight.shape}]`);
  }
  const { g, out } = geometry("conv3d", x.shape, weight.shape, opts, 3);
  return convCore("conv3d", x, weight, bias, g, out) as Tensor<AsShape<Conv3dShape<X, W, O>>>;
}

/** 2-D convolution: x [B, Ci, H, W], weight [Co, Ci, kh, kw] → [B, Co, H', W'] (the 3-D kernel with unit depth). */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  opts: ConvOptions = {},
): Tensor {
  checkConvArgs("conv2d", x, weight, bias, 2, "[Co, Ci, kh, kw]");
  if (weight.shape[1] !== x.shape[1]) {
    throw new Error(
      `conv2d: input has ${x.shape[1]} channels but weight [${weight.shape}] expects ${
        weight.shape[1]
      } (x [${x.shape}])`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new Error(`conv2d: bias [${bias.shape}] must be [${weight.shape[0]}] for weight [${weight.shape}]`);
  }
  const { g, out } = geometry("conv2d", x.shape, weight.shape, opts, 2);
  return scope(() => {
    const x5 = reshape(x, [x.shape[0], x.shape[1], 1, x.shape[2], x.shape[3]]);
    const w5 = reshape(weight, [weight.shape[0], weight.shape[1], 1, weight.shape[2], weight.shape[3]]);
    return reshape(convCore("conv2d", x5, w5, bias, g, [out[0], out[1], 1, out[2], out[3]]), out);
  });
}

/**
 * Transposed 3-D convolution (the adjoint of conv3d): x [B, Ci, D, H, W], weight [Ci, Co, kd, kh, kw] →
 * [B, Co, (D − 1)·stride − 2·padding + dilation·(kd − 1) + outputPadding + 1, …]. Computed as the input
 * gradient of the matching conv3d, phase by phase (no scatter).
 */
export function convTranspose3d<
  X extends Shape,
  W extends Shape,
  const O extends ConvTransposeOptions = Record<never, never>,
>(
  x: Tensor<X>,
  weight: Tensor<W> & CheckWindow<ConvTranspose3dShape<X, W, O>>,
  bias: Tensor | null = null,
  opts: O = {} as O,
): Tensor<AsShape<ConvTranspose3dShape<X, W, O>>> {
  const op = "convTranspose3d";
  checkConvArgs(op, x, weight, bias, 3, "[Ci, Co, kd, kh, kw]");
  if (weight.shape[0] !== x.shape[1]) {
    throw new Error(
      `${op}: input has ${x.shape[1]} channels but weight [${weight.shape}] expects ${
        weight.shape[0]
      } (x [${x.shape}])`,
    );
  }
  const Co = weight.shape[1];
  if (bias && (bias.rank !== 1 || bias.shape[0] !== Co)) {
    throw new Error(`${op}: bias [${bias.shape}] must be [${Co}] for weight [${weight.shape}]`);
  }
  const stride = perAxis(op, "stride", opts.stride, 3, 1, 1);
  const padding = perAxis(op, "padding", opts.padding, 3, 0, 0);
  const outPad = perAxis(op, "outputPadding", opts.outputPadding, 3, 0, 0);
  const dilation = perAxis(op, "dilation", opts.dilation, 3, 1, 1);
  const kernel = weight.shape.slice(2);
  const inDims = x.shape.slice(2);
  const outDims = inDims.map((d, i) =>
    (d - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1) + outPad[i] + 1
  );
  if (outPad.some((p, i) => p >= stride[i] && p >= dilation[i])) {
    throw new Error(
      `${op}: outputPadding [${outPad}] must be smaller than stride [${stride}] or dilation [${dilation}]`,
    );
  }
  if (outDims.some((d) => d <= 0)) {
    throw new Error(`${op}: output size [${outDims}] is empty for x [${x.shape}]`);
  }
  // The conv3d whose input gradient this is: input = our output, output = our input.
  const g: ConvGeometry = {
    B: x.shape[0],
    Ci: Co,
    Co: x.shape[1],
    inDims: outDims,
    outDims: inDims,
    kernel,
    stride,
    padBefore: padding,
    dilation,
  };
  const y = empty([x.shape[0], Co, ...outDims]);
  backend().convInputGrad(x.buffer(op), weight.buffer(op), y.buffer(), g);
  if (bias) {
    using _unbiased = y;
    const yb = empty(y.shape);
    backend().map(
      "add",
      [
        { buffer: y.buffer(), dtype: "float32", strides: null },
        { buffer: bias.buffer(op), dtype: "float32", strides: [0, 1, 0, 0, 0] },
      ],
      yb.buffer(),
      [...y.shape],
      "float32",
    );
    return finishTranspose(yb, x, weight, bias, g) as Tensor<AsShape<ConvTranspose3dShape<X, W, O>>>;
  }
  return finishTranspose(y, x, weight, bias, g) as Tensor<AsShape<ConvTranspose3dShape<X, W, O>>>;
}

function finishTranspose(y: Tensor, x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, "convTranspose3d", inputs, [x, weight], (gy, [sx, sw]) => {
    // Adjoint of the adjoint: dx = conv3d(gy, w); dw = conv3d weight gradient with (x, dy) = (gy, x).
    const dx = x.requiresGrad ? empty(x.shape) : null;
    if (dx) backend().conv(gy.buffer(), sw.buffer(), null, dx.buffer(), g);
    const dw = weight.requiresGrad ? empty(weight.shape) : null;
    if (dw) backend().convWeightGrad(gy.buffer(), sx.buffer(), dw.buffer(), g);
    const db = bias?.requiresGrad ? biasGrad(gy, g.Ci) : null;
    return bias ? [dx, dw, db] : [dx, dw];
  });
}
