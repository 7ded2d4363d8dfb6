/**
 * Data movement kernels: strided gather (permute, slice, expand), constant pad, copy into a strided region
 * (concat), and index-select along an axis with its backward. They move whole elements of any dtype.
 */
import { kernelPrelude, type Runtime } from "./runtime.ts";
import { collapseDims } from "../shape.ts";
import { stridesOf } from "../shape.ts";
import type { DType } from "../dtype.ts";
import { wgslType } from "../dtype.ts";

const WG = 256;
const MAX_RANK = 6;

function header(dtype: DType, inputs: number): string {
  const t = wgslType(dtype);
  let s = dtype === "float16" ? "enable f16;\n" : "";
  for (let k = 0; k < inputs; k++) s += `@group(0) @binding(${k}) var<storage, read> in${k}: array<${t}>;\n`;
  s += `@group(0) @binding(${inputs}) var<storage, read_write> out: array<${t}>;\n`;
  return s + kernelPrelude(inputs + 1);
}

const MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= U(0u)) { return; }`;

// One kernel both ways: gather `out[i] = in[offset + Σ coord·strides]`, or scatter `out[that] = in[i]`.
function regionCopy(dtype: DType, scatter: boolean): string {
  return `${header(dtype, 1)}
${MAIN}
  var rem = i; var off = U(2u);
  for (var d = i32(U(1u)) - 1; d >= 0; d--) {
    let dim = U(4u + u32(d)); off += (rem % dim) * U(10u + u32(d)); rem = rem / dim;
  }
  ${scatter ? "out[off] = in0[i];" : "out[i] = in0[off];"}
}`;
}

function pad(dtype: DType): string {
  const t = wgslType(dtype);
  const value = dtype === "int32" ? "bitcast<i32>(U(2u))" : `${t}(UF(2u))`;
  return `${header(dtype, 1)}
${MAIN}
  var rem = i; var off = 0u; var inStride = 1u; var inside = true;
  for (var d = i32(U(1u)) - 1; d >= 0; d--) {
    let dim = U(4u + u32(d)); let c = i32(rem % dim) - bitcast<i32>(U(16u + u32(d))); rem = rem / dim;
    let inDim = U(10u + u32(d));
    if (c < 0 || c >= i32(inDim)) { inside = false; } else { off += u32(c) * inStride; }
    inStride *= inDim;
  }
  if (inside) { out[i] = in0[off]; } else { out[i] = ${value}; }
}`;
}

function runRegionCopy(
  rt: Runtime,
  dtype: DType,
  input: GPUBuffer,
  out: GPUBuffer,
  shape: number[],
  strides: number[],
  offset: number,
  scatter: boolean,
): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const c = collapseDims(shape, [stridesOf(shape), strides]);
  if (c.shape.length > MAX_RANK) throw new Error(`region copy: rank ${c.shape.length} > ${MAX_RANK}`);
  const u = new Array<number>(16).fill(0);
  u[0] = n, u[1] = c.shape.length, u[2] = offset;
  c.shape.forEach((d, i) => (u[4 + i] = d));
  c.strides[1].forEach((s, i) => (u[10 + i] = s));
  rt.dispatch(regionCopy(dtype, scatter), [input, out], u, Math.ceil(n / WG));
}

/** out (contiguous, `shape`) = input read at `offset + Σ coord·strides`: permute, slice, expand. */
export function runStrided(
  rt: Runtime,
  dtype: DType,
  input: GPUBuffer,
  out: GPUBuffer,
  shape: number[],
  strides: number[],
  offset: number,
): void {
  runRegionCopy(rt, dtype, input, out, shape, strides, offset, false);
}

/** Writes the contiguous `input` of `shape` into `out` at `offset + Σ coord·strides` (concat, slice-assign). */
export function runScatterRegion(
  rt: Runtime,
  dtype: DType,
  input: GPUBuffer,
  out: GPUBuffer,
  shape: number[],
  strides: number[],
  offset: number,
): void {
  runRegionCopy(rt, dtype, input, out, shape, strides, offset, true);
}

/** Constant padding: out[c] = input[c - before] inside, else `value`. */
export function runPad(
  rt: Runtime,
  dtype: DType,
  input: GPUBuffer,
  out: GPUBuffer,
  inShape: number[],
  before: number[],
  after: number[],
  value: number,
): void {
  if (inShape.length > MAX_RANK) throw new Error(`pad: rank ${inShape.length} > ${MAX_RANK}`);
  const outShape = inShape.map((d, i) => d + before[i] + after[i]);
  const n = outShape.reduce((a, b) => a * b, 1);
  const u = new Array<number>(22).fill(0);
  const bits = dtype === "int32" ? new Int32Array([value]) : new Float32Array([value]);
  u[0] = n, u[1] = inShape.length, u[2] = new Uint32Array(bits.buffer)[0];
  outShape.forEach((d, i) => (u[4 + i] = d));
  inShape.forEach((d, i) => (u[10 + i] = d));
  before.forEach((d, i) => (u[16 + i] = d >>> 0));
  rt.dispatch(pad(dtype), [input, out], u, Math.ceil(n / WG));
}

function indexSelect(dtype: DType, backward: boolean): string {
  const t = wgslType(dtype);
  const body = backward
    ? `// grad_x[o, d, in] = Σ_j [idx[j] == d] g[o, j, in]; deterministic (no atomics).
  let inIdx = i % inner; let d = (i / inner) % D; let o = i / (inner * D);
  var acc = ${t}(0);
  for (var j = 0u; j < J; j++) { if (u32(idx[j]) == d) { acc += in0[(o * J + j) * inner + inIdx]; } }
  out[i] = acc;`
    : `let inIdx = i % inner; let j = (i / inner) % J; let o = i / (inner * J);
  let d = min(u32(max(idx[j], 0)), D - 1u);
  out[i] = in0[(o * D + d) * inner + inIdx];`;
  return `${dtype === "float16" ? "enable f16;\n" : ""}
@group(0) @binding(0) var<storage, read> in0: array<${t}>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;
${kernelPrelude(3)}
${MAIN}
  let outer = U(1u); let D = U(2u); let inner = U(3u); let J = U(4u);
  ${body}
}`;
}

/**
 * out[o, j, i] = x[o, idx[j], i] (indices outside [0, D) are clamped; validated on the host where known), or with
 * `backward` the gradient: grad[o, d, i] = Σ_{j: idx[j] = d} g[o, j, i].
 */
export function runIndexSelect(
  rt: Runtime,
  dtype: DType,
  x: GPUBuffer,
  idx: GPUBuffer,
  out: GPUBuffer,
  outer: number,
  D: number,
  inner: number,
  J: number,
  backward: boolean,
): void {
  const n = outer * (backward ? D : J) * inner;
  rt.dispatch(indexSelect(dtype, backward), [x, idx, out], [n, outer, D, inner, J], Math.ceil(n / WG));
}
