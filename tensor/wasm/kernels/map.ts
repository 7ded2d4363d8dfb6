/**
 * Elementwise kernels: one JavaScript function per (op, dtypes, layout), generated from an expression table
 * and cached per thread, like the WGSL generator on the GPU side. Float math runs in double and rounds on the
 * store; int32 math keeps integer semantics (truncating division, wrapping multiply).
 */
import { MAP_OP_NAMES, type MapOp } from "../../backend/ops.ts";
import type { KernelContext } from "./context.ts";
import { index, type View, view } from "./views.ts";
import { LAYOUT_SAME } from "./simd.ts";

/** JavaScript expressions over a, b, c and scalars s0, s1 (float compute). */
const FLOAT: Record<MapOp, string> = {
  copy: "a",
  neg: "-a",
  exp: "Math.exp(a)",
  log: "Math.log(a)",
  sin: "Math.sin(a)",
  cos: "Math.cos(a)",
  sqrt: "Math.sqrt(a)",
  rsqrt: "1 / Math.sqrt(a)",
  abs: "Math.abs(a)",
  sign: "(a > 0 ? 1 : a < 0 ? -1 : a === 0 ? 0 : NaN)",
  square: "a * a",
  reciprocal: "1 / a",
  relu: "(a > 0 ? a : a !== a ? a : 0)",
  leakyRelu: "(a > 0 ? a : a * s0)",
  silu: "a / (1 + Math.exp(-a))",
  sigmoid: "1 / (1 + Math.exp(-a))",
  tanh: "Math.tanh(a)",
  gelu: "0.5 * a * (1 + erf(a * 0.7071067811865476))",
  clamp: "Math.min(Math.max(a, s0), s1)",
  affine: "a * s0 + s1",
  powScalar: "Math.pow(a, s0)",
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  div: "a / b",
  pow: "Math.pow(a, b)",
  maximum: "(a !== a || b !== b ? NaN : Math.max(a, b))",
  minimum: "(a !== a || b !== b ? NaN : Math.min(a, b))",
  eq: "(a === b ? 1 : 0)",
  ne: "(a !== b ? 1 : 0)",
  lt: "(a < b ? 1 : 0)",
  le: "(a <= b ? 1 : 0)",
  gt: "(a > b ? 1 : 0)",
  ge: "(a >= b ? 1 : 0)",
  where: "(a !== 0 ? b : c)",
  reluGrad: "(a > 0 ? b : 0)",
  leakyReluGrad: "(a > 0 ? b : b * s0)",
  siluGrad: "sgd(a, b)",
  sigmoidGrad: "b * a * (1 - a)",
  tanhGrad: "b * (1 - a * a)",
  geluGrad: "b * (0.5 * (1 + erf(a * 0.7071067811865476)) + a * 0.3989422804014327 * Math.exp(-0.5 * a * a))",
  clampGrad: "(a >= s0 && a <= s1 ? b : 0)",
  absGrad: "b * (a > 0 ? 1 : a < 0 ? -1 : 0)",
  cast: "a",
};

/** Overrides where int32 semantics differ from float ones. */
const INT: Partial<Record<MapOp, string>> = {
  mul: "Math.imul(a, b)",
  div: "(b === 0 ? a : (a / b) | 0)",
  square: "Math.imul(a, a)",
  neg: "(-a | 0)",
  abs: "(Math.abs(a) | 0)",
};

// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the same approximation the WGSL kernels use.
const HELPERS = `
function erf(x) {
  const z = Math.abs(x), t = 1 / (1 + 0.3275911 * z);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x < 0 ? -y : y;
}
function sgd(a, b) { const s = 1 / (1 + Math.exp(-a)); return b * s * (1 + a * (1 - s)); }
function toInt(x) { return x !== x ? 0 : x >= 2147483647 ? 2147483647 : x <= -2147483648 ? -2147483648 : Math.trunc(x); }
`;

type MapFn = (
  out: View,
  o0: number,
  ins: View[],
  starts: number[],
  start: number,
  end: number,
  shape: number[],
  strides: number[][],
  s0: number,
  s1: number,
) => void;

const cache = new Map<string, MapFn>();

function generate(op: MapOp, inCodes: number[], outCode: number, contiguous: boolean): MapFn {
  const key = `${op}:${inCodes}:${outCode}:${contiguous}`;
  let fn = cache.get(key);
  if (fn) return fn;
  const intCompute = (op === "cast" ? outCode : inCodes[0] ?? outCode) === 1;
  let expr = (intCompute ? INT[op] : undefined) ?? FLOAT[op];
  if (op === "cast" && outCode === 1 && inCodes[0] !== 1) expr = "toInt(a)";
  const names = ["a", "b", "c"].slice(0, inCodes.length);
  let body = `const [${names.map((_, k) => `I${k}`).join(", ")}] = ins;\n`;
  if (contiguous) {
    body += `const d = o0 - 0;\n${names.map((_, k) => `const p${k} = starts[${k}];`).join(" ")}\n`;
    body += `for (let i = start; i < end; i++) {\n`;
    body += names.map((n, k) => `  const ${n} = I${k}[p${k} + i];`).join("\n");
    body += `\n  out[d + i] = ${expr};\n}`;
  } else {
    // Walk the output in rows of the last dim; operands advance by their own strides and carry at row ends.
    body += `const rank = shape.length, last = rank - 1, n = shape[last];
const idx = new Array(rank).fill(0);
${
      names.map((_, k) => `let p${k} = starts[${k}]; const S${k} = strides[${k}], t${k} = S${k}[last];`).join(
        "\n",
      )
    }
let r = start;
for (let d = last; d >= 0; d--) { const q = r % shape[d]; r = (r - q) / shape[d]; idx[d] = q; ${
      names.map((_, k) => `p${k} += q * S${k}[d];`).join(" ")
    } }
let i = start;
while (i < end) {
  const run = Math.min(n - idx[last], end - i);
  for (let j = 0; j < run; j++, i++) {
    ${names.map((nm, k) => `const ${nm} = I${k}[p${k}]; p${k} += t${k};`).join(" ")}
    out[o0 + i] = ${expr};
  }
  idx[last] += run;
  if (i >= end) break;
  for (let d = last; d > 0 && idx[d] === shape[d]; d--) {
    idx[d] = 0; idx[d - 1]++;
    ${names.map((_, k) => `p${k} += S${k}[d - 1] - S${k}[d] * shape[d];`).join(" ")}
  }
}`;
  }
  fn = new Function(
    `${HELPERS}\nreturn function map_${op}(out, o0, ins, starts, start, end, shape, strides, s0, s1) {\n${body}\n};`,
  )() as MapFn;
  cache.set(key, fn);
  return fn;
}

/**
 * Args: [op, nIn, outCode, outPtr, n, chunk, s0, s1, rank, shape…, then per input: code, ptr, strides…].
 * Chunk c covers outputs [c·chunk, (c+1)·chunk).
 */
export function mapKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const op = MAP_OP_NAMES[a[0]], nIn = a[1], outCode = a[2], outPtr = a[3], n = a[4], chunk = a[5];
  const rank = a[8];
  const shape = Array.from({ length: rank }, (_, d) => a[9 + d]);
  const codes: number[] = [], ins: View[] = [], starts: number[] = [], strides: number[][] = [];
  let contiguous = true;
  for (let k = 0; k < nIn; k++) {
    const base = 9 + rank + k * (2 + rank);
    codes.push(a[base]);
    ins.push(view(ctx, a[base]));
    starts.push(index(a[base], a[base + 1]));
    const s = Array.from({ length: rank }, (_, d) => a[base + 2 + d]);
    strides.push(s);
    if (rank !== 1 || s[0] !== 1) contiguous = false;
  }
  const start = c * chunk, end = Math.min(n, start + chunk);
  const fn = generate(op, codes, outCode, contiguous);
  fn(view(ctx, outCode), index(outCode, outPtr), ins, starts, start, end, shape, strides, a[6], a[7]);
}

/**
 * Args: [binary, code, layout, outPtr, aPtr, bPtr, n, chunk, inner, s0, s1]: a float32 op with a loop in
 * kernels.wasm (plan from `simdMapPlan`), chunk c covering outputs [c·chunk, (c+1)·chunk).
 */
export function mapSimdKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const start = c * a[7], n = Math.min(a[6], start + a[7]) - start;
  if (n <= 0) return;
  const out = a[3] + start * 4, x = a[4] + start * 4;
  if (a[0] === 0) ctx.simd.unaryF32(a[1], out, x, n, a[9], a[10]);
  else ctx.simd.binaryF32(a[1], a[2], out, x, a[5] + (a[2] === LAYOUT_SAME ? start * 4 : 0), n, a[8], start);
}
