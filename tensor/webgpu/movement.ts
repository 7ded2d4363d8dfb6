/**
 * Data movement kernels: strided gather (permute, slice, expand), constant pad, copy into a strided region
 * (concat), and index-select along an axis with its backward. They move whole elements of any dtype.
 */
import type { Runtime } from "./runtime.ts";
import { type BufferDecl, type KernelLayout, kernelLayout, type UniformDecls } from "./kernel.ts";
import { collapseDims } from "../shape.ts";
import { stridesOf } from "../shape.ts";
import type { DType } from "../dtype.ts";
import { wgslType } from "../dtype.ts";

const WG = 256;
const MAX_RANK = 6;

const REGION_UNIFORMS = {
  n: "u32",
  rank: "u32",
  offset: "u32",
  dims: ["u32", MAX_RANK],
  strides: ["u32", MAX_RANK],
} as const;
const padUniforms = <T extends "i32" | "f32">(value: T) => ({
  n: "u32",
  rank: "u32",
  value,
  outDims: ["u32", MAX_RANK],
  inDims: ["u32", MAX_RANK],
  before: ["i32", MAX_RANK],
} as const);
const INDEX_UNIFORMS = { n: "u32", outer: "u32", D: "u32", inner: "u32", J: "u32" } as const;

/** Bindings `in0`, (`idx`), `out` of element type `dtype`. */
function layout<U extends UniformDecls>(dtype: DType, uniforms: U, withIndex = false): KernelLayout<U> {
  const t = wgslType(dtype);
  const buffers: BufferDecl[] = [{ name: "in0", type: t }];
  if (withIndex) buffers.push({ name: "idx", type: "i32" });
  buffers.push({ name: "out", type: t, access: "read_write" });
  return kernelLayout(buffers, uniforms);
}

/** Header and the opening of `main` up to the bounds check on `n`. */
function open(dtype: DType, k: KernelLayout<UniformDecls>): string {
  return `${dtype === "float16" ? "enable f16;\n" : ""}${k.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${k.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= n) { return; }`;
}

// One kernel both ways: gather `out[i] = in[offset + Σ coord·strides]`, or scatter `out[that] = in[i]`.
function regionCopy(dtype: DType, scatter: boolean): string {
  return `${open(dtype, layout(dtype, REGION_UNIFORMS))}
  var rem = i; var off = offset;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let dim = dims(u32(d)); off += (rem % dim) * strides(u32(d)); rem = rem / dim;
  }
  ${scatter ? "out[off] = in0[i];" : "out[i] = in0[off];"}
}`;
}

/** The fill value is read as i32 for int32 tensors, else as f32 (converted to the element type in WGSL). */
const padLayout = (dtype: DType) => layout(dtype, padUniforms(dtype === "int32" ? "i32" : "f32"));

function pad(dtype: DType): string {
  const t = wgslType(dtype);
  const fill = dtype === "int32" ? "value" : `${t}(value)`;
  return `${open(dtype, padLayout(dtype))}
  var rem = i; var off = 0u; var inStride = 1u; var inside = true;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let dim = outDims(u32(d)); let c = i32(rem % dim) - before(u32(d)); rem = rem / dim;
    let inDim = inDims(u32(d));
    if (c < 0 || c >= i32(inDim)) { inside = false; } else { off += u32(c) * inStride; }
    inStride *= inDim;
  }
  if (inside) { out[i] = in0[off]; } else { out[i] = ${fill}; }
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
  const u = layout(dtype, REGION_UNIFORMS).pack({
    n,
    rank: c.shape.length,
    offset,
    dims: c.shape,
    strides: c.strides[1],
  });
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
  const u = padLayout(dtype).pack({
    n,
    rank: inShape.length,
    value,
    outDims: outShape,
    inDims: inShape,
    before,
  });
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
  return `${open(dtype, layout(dtype, INDEX_UNIFORMS, true))}
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
  const u = layout(dtype, INDEX_UNIFORMS, true).pack({ n, outer, D, inner, J });
  rt.dispatch(indexSelect(dtype, backward), [x, idx, out], u, Math.ceil(n / WG));
}
