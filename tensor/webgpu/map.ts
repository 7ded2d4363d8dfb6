/**
 * Elementwise kernels ("map"): up to three inputs, NumPy broadcasting, one generator for every op.
 * Expressions are written over the alias `T` (f32, i32, f16 or vec4<f32>) so one text serves scalar and vec4.
 */
import type { Runtime } from "./runtime.ts";
import { kernelLayout } from "./kernel.ts";
import type { MapOp } from "../backend/ops.ts";
import type { DType } from "../dtype.ts";
import { bytesPerElement, wgslType } from "../dtype.ts";
import { collapseDims, stridesOf } from "../shape.ts";
import { sub, unitRanges } from "./chunk.ts";

/** Elementwise operations and their WGSL expressions over inputs a, b, c and scalar params s0, s1. */
export const MAP_OPS: Record<MapOp, string> = {
  copy: "a",
  neg: "-a",
  exp: "exp(a)",
  log: "log(a)",
  sin: "sin(a)",
  cos: "cos(a)",
  sqrt: "sqrt(a)",
  rsqrt: "inverseSqrt(a)",
  abs: "abs(a)",
  sign: "sign(a)",
  square: "a * a",
  reciprocal: "T(1) / a",
  relu: "max(a, T(0))",
  leakyRelu: "select(a * T(s0), a, a > T(0))",
  silu: "a / (T(1) + exp(-a))",
  sigmoid: "T(1) / (T(1) + exp(-a))",
  tanh: "tanhStable(a)",
  gelu: "T(0.5) * a * (T(1) + erfApprox(a * T(0.7071067811865476)))",
  clamp: "clamp(a, T(s0), T(s1))",
  affine: "a * T(s0) + T(s1)",
  powScalar: "powSigned(a, T(s0))",
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  div: "a / b",
  pow: "powSigned(a, b)",
  maximum: "max(a, b)",
  minimum: "min(a, b)",
  eq: "select(T(0), T(1), a == b)",
  ne: "select(T(0), T(1), a != b)",
  lt: "select(T(0), T(1), a < b)",
  le: "select(T(0), T(1), a <= b)",
  gt: "select(T(0), T(1), a > b)",
  ge: "select(T(0), T(1), a >= b)",
  where: "select(c, b, a != T(0))",
  // Derivative helpers used by backward passes (fused so a gradient costs one kernel).
  reluGrad: "select(T(0), b, a > T(0))",
  leakyReluGrad: "select(b * T(s0), b, a > T(0))",
  siluGrad: "b * (T(1) / (T(1) + exp(-a))) * (T(1) + a * (T(1) - T(1) / (T(1) + exp(-a))))",
  sigmoidGrad: "b * a * (T(1) - a)",
  tanhGrad: "b * (T(1) - a * a)",
  geluGrad:
    "b * (T(0.5) * (T(1) + erfApprox(a * T(0.7071067811865476))) + a * T(0.3989422804014327) * exp(T(-0.5) * a * a))",
  clampGrad: "select(T(0), b, (a >= T(s0)) & (a <= T(s1)))",
  absGrad: "b * sign(a)",
  cast: "T(a)",
};

const FLOAT_HELPERS = `
fn tanhStable(x: T) -> T { let t = exp(T(-2) * abs(x)); return sign(x) * (T(1) - t) / (T(1) + t); }
// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); WGSL has no erf.
fn erfApprox(x: T) -> T {
  let z = abs(x);
  let t = T(1) / (T(1) + T(0.3275911) * z);
  let y = T(1) - (((((T(1.061405429) * t + T(-1.453152027)) * t) + T(1.421413741)) * t + T(-0.284496736)) * t
    + T(0.254829592)) * t * exp(-z * z);
  return sign(x) * y;
}
// pow() is undefined for negative bases in WGSL; follow PyTorch for integral exponents.
fn powSigned(a: T, b: T) -> T {
  let r = pow(abs(a), b);
  let isOdd = abs(b - T(2) * floor(b / T(2))) == T(1);
  let isInt = floor(b) == b;
  let neg = select(r, -r, isOdd);
  let noBase = select(T(0), T(1), b == T(0));
  return select(select(select(sqrt(-abs(a) - T(1)), neg, isInt), r, a > T(0)), noBase, a == T(0));
}
`;

/** One input to a map kernel: its buffer, dtype and strides over the output shape (0 on broadcast dims). */
export interface MapInput {
  buffer: GPUBuffer;
  dtype: DType;
  strides: number[] | null; // null: contiguous with the output shape
}

const WG = 256;
const MAX_RANK = 6;

const UNIFORMS = {
  n: "u32",
  rank: "u32",
  /** Scalar operands of ops like clamp and affine. */
  s0: "f32",
  s1: "f32",
  dims: ["u32", MAX_RANK],
  /** Strides of input k over the output dims at [k·MAX_RANK, (k + 1)·MAX_RANK). */
  strides: ["u32", 3 * MAX_RANK],
  /** First output of this chunk, and the element at which input k is bound (chunking). */
  first: "u32",
  skews: ["u32", 3],
} as const;
/** Packing depends on the uniforms only, not on the bindings of a particular kernel. */
const pack = kernelLayout([], UNIFORMS).pack;

function source(op: MapOp, inDtypes: DType[], outDtype: DType, mode: "contig" | "vec4" | "strided") {
  // A cast computes in the output type; every other op in its inputs' type.
  const computeType = wgslType(op === "cast" ? outDtype : inDtypes[0] ?? outDtype);
  const outType = wgslType(outDtype);
  const names = ["a", "b", "c"];
  const needF16 = inDtypes.includes("float16") || outDtype === "float16";
  const vec = mode === "vec4";
  const alias = vec ? `vec4<${computeType}>` : computeType;
  const elem = (t: string) => (vec ? `vec4<${t}>` : t);
  const layout = kernelLayout([
    ...inDtypes.map((d, k) => ({ name: `in${k}`, type: elem(wgslType(d)) })),
    { name: "out", type: elem(outType), access: "read_write" as const },
  ], UNIFORMS);
  let decl = needF16 ? "enable f16;\n" : "";
  decl += `alias T = ${alias};\n`;
  decl += layout.header;
  if (computeType !== "i32") decl += FLOAT_HELPERS;
  let body = "";
  if (mode === "strided") {
    body += `  var rem = i + first; var o0 = 0u; var o1 = 0u; var o2 = 0u;\n`;
    body +=
      `  for (var d = i32(rank) - 1; d >= 0; d--) {\n    let dim = dims(u32(d)); let q = rem % dim; rem = rem / dim;\n`;
    for (let k = 0; k < inDtypes.length; k++) {
      body += `    o${k} += q * strides(${MAX_RANK * k}u + u32(d));\n`;
    }
    body += `  }\n`;
    inDtypes.forEach((_, k) => (body += `  let ${names[k]} = T(in${k}[o${k} - skews(${k}u)]);\n`));
  } else {
    inDtypes.forEach((_, k) => (body += `  let ${names[k]} = T(in${k}[i]);\n`));
  }
  const outCast = vec ? `vec4<${outType}>` : outType;
  return `${decl}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= n) { return; }
${body}  out[i] = ${outCast}(${MAP_OPS[op]});
}
`;
}

/**
 * Runs an elementwise op into `out` (contiguous, `outShape`). Scalars s0/s1 feed ops like clamp and affine.
 */
export function runMap(
  rt: Runtime,
  op: MapOp,
  inputs: MapInput[],
  out: GPUBuffer,
  outShape: number[],
  outDtype: DType,
  scalars: [number, number] = [0, 0],
): void {
  const n = outShape.reduce((a, b) => a * b, 1);
  const [s0, s1] = scalars;
  const contiguous = inputs.every((x) => x.strides === null);
  const allF32 = outDtype === "float32" && inputs.every((x) => x.dtype === "float32");
  const bytes = (d: DType) => bytesPerElement(d);
  if (contiguous) {
    const vec4 = allF32 && n % 4 === 0;
    const count = vec4 ? n / 4 : n;
    const src = source(op, inputs.map((x) => x.dtype), outDtype, vec4 ? "vec4" : "contig");
    const unit = [...inputs.map((x) => bytes(x.dtype)), bytes(outDtype)].map((b) => (vec4 ? 4 * b : b));
    const bufs = [...inputs.map((x) => x.buffer), out];
    // Tensors larger than one binding run in chunks over sub-ranges of every operand.
    for (const [r0, r1] of unitRanges(rt, `elementwise ${op}`, count, unit)) {
      const whole = r0 === 0 && r1 === count;
      const bound = whole
        ? bufs
        : bufs.map((b, k) => sub(b, r0 * unit[k], Math.ceil(((r1 - r0) * unit[k]) / 4) * 4));
      const u = pack({ n: r1 - r0, rank: 0, s0, s1, dims: [], strides: [], first: 0, skews: [] });
      rt.dispatch(src, bound, u, Math.ceil((r1 - r0) / WG));
    }
    return;
  }
  const full = inputs.map((x) => x.strides ?? stridesOf(outShape));
  const c = collapseDims(outShape, full);
  if (c.shape.length > MAX_RANK) {
    throw new Error(
      `elementwise ${op}: broadcast of rank ${c.shape.length} exceeds ${MAX_RANK} after merging dims`,
    );
  }
  const strides = new Array<number>(3 * MAX_RANK).fill(0);
  c.strides.forEach((s, k) => s.forEach((v, i) => (strides[MAX_RANK * k + i] = v)));
  const src = source(op, inputs.map((x) => x.dtype), outDtype, "strided");
  // Chunks split the output; inputs contiguous with it are bound alongside, broadcast ones whole.
  const chunked = inputs.map((x) => x.strides === null);
  const unit = [bytes(outDtype), ...inputs.filter((_, k) => chunked[k]).map((x) => bytes(x.dtype))];
  for (const [r0, r1] of unitRanges(rt, `elementwise ${op}`, n, unit)) {
    const whole = r0 === 0 && r1 === n;
    const part = (b: GPUBuffer, d: DType) =>
      whole ? b : sub(b, r0 * bytes(d), Math.ceil(((r1 - r0) * bytes(d)) / 4) * 4);
    const bound = [
      ...inputs.map((x, k) => (chunked[k] ? part(x.buffer, x.dtype) : x.buffer)),
      part(out, outDtype),
    ];
    const skews = inputs.map((_, k) => chunked[k] && !whole ? r0 : 0);
    const u = pack({ n: r1 - r0, rank: c.shape.length, s0, s1, dims: c.shape, strides, first: r0, skews });
    rt.dispatch(src, bound, u, Math.ceil((r1 - r0) / WG));
  }
}
