/**
 * Reductions over the middle axis of an [outer, R, inner] view. Large R with few outputs is split into
 * chunks reduced in a second pass, so a full sum of 16M values still uses many invocations.
 */
import type { ReduceOp } from "../backend/ops.ts";
import type { Runtime } from "./runtime.ts";
import { kernelLayout } from "./kernel.ts";
import { window } from "./chunk.ts";

const WG = 64;
const INIT: Record<ReduceOp, string> = {
  sum: "0.0",
  max: "-3.4028234663852886e38",
  min: "3.4028234663852886e38",
  argmax: "-3.4028234663852886e38",
  argmin: "3.4028234663852886e38",
};

const UNIFORMS = {
  outer: "u32",
  R: "u32",
  inner: "u32",
  /** R is reduced in `chunks` pieces of `chunkLen`, each writing its own partial output. */
  chunks: "u32",
  chunkLen: "u32",
  /** Element offsets of x and out inside their bindings (chunked runs over huge tensors). */
  skewX: "u32",
  skewOut: "u32",
} as const;
const LAYOUTS = ["f32", "i32"].map((outType) =>
  kernelLayout([{ name: "x", type: "f32" }, { name: "out", type: outType, access: "read_write" }], UNIFORMS)
);
const layout = (arg: boolean) => LAYOUTS[arg ? 1 : 0];

function source(op: ReduceOp): string {
  const arg = op === "argmax" || op === "argmin";
  const cmp = op === "argmax" || op === "max" ? ">" : "<";
  const update = op === "sum"
    ? "acc = acc + v;"
    : arg
    ? `if (v ${cmp} acc || (v != v && acc == acc)) { acc = v; best = r; }`
    : `if (v ${cmp} acc || v != v) { acc = v; }`;
  return `${layout(arg).header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout(arg).lets}
  let o = linearGroup(wid, nwg) * ${WG}u + lid;
  if (o >= outer * chunks * inner) { return; }
  let inIdx = o % inner;
  let ch = (o / inner) % chunks;
  let ou = o / (inner * chunks);
  let r0 = ch * chunkLen;
  let r1 = min(R, r0 + chunkLen);
  var acc: f32 = ${INIT[op]};
  var best: u32 = 0u;
  let base = ou * R * inner + inIdx + skewX;
  for (var r = r0; r < r1; r++) {
    let v = x[base + r * inner];
    ${update}
  }
  out[o + skewOut] = ${arg ? "i32(best)" : "acc"};
}
`;
}

/**
 * Reduces x viewed as [outer, R, inner] over R into out [outer, inner]. `tmp` allocates scratch buffers and
 * `free` returns them.
 */
export function runReduce(
  rt: Runtime,
  op: ReduceOp,
  x: GPUBuffer,
  out: GPUBuffer,
  outer: number,
  R: number,
  inner: number,
  tmp: (bytes: number) => GPUBuffer,
  free: (b: GPUBuffer) => void,
): void {
  const limit = rt.bindingLimit / 4 - rt.offsetAlignment / 4; // elements per binding, with room for the skew
  if (outer * R * inner <= limit) {
    reduceRange(rt, op, x, out, outer, R, inner, tmp, free, 0, 0);
    return;
  }
  // Larger than one binding: whole outer rows per chunk when a row fits, else R split into pieces.
  if (R * inner <= limit && outer * inner <= limit) {
    const per = Math.max(1, Math.floor(limit / (R * inner)));
    for (let o0 = 0; o0 < outer; o0 += per) {
      const n = Math.min(per, outer - o0);
      const wx = window(rt, x, o0 * R * inner, n * R * inner);
      const wo = window(rt, out, o0 * inner, n * inner);
      reduceRange(rt, op, wx.binding, wo.binding, n, R, inner, tmp, free, wx.skew, wo.skew);
    }
    return;
  }
  if (op === "argmax" || op === "argmin" || inner > limit) {
    throw new Error(
      `${op}: reducing [${outer}, ${R}, ${inner}] needs rows larger than one storage binding (${rt.bindingLimit} bytes)`,
    );
  }
  const rPer = Math.max(1, Math.floor(limit / inner));
  const pieces = Math.ceil(R / rPer);
  const partial = tmp(outer * pieces * inner * 4);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < pieces; j++) {
      const r0 = j * rPer, n = Math.min(rPer, R - r0);
      const wx = window(rt, x, (o * R + r0) * inner, n * inner);
      const wo = window(rt, partial, (o * pieces + j) * inner, inner);
      reduceRange(rt, op, wx.binding, wo.binding, 1, n, inner, tmp, free, wx.skew, wo.skew);
    }
  }
  runReduce(rt, op, partial, out, outer, pieces, inner, tmp, free);
  free(partial);
}

function reduceRange(
  rt: Runtime,
  op: ReduceOp,
  x: GPUBuffer | GPUBufferBinding,
  out: GPUBuffer | GPUBufferBinding,
  outer: number,
  R: number,
  inner: number,
  tmp: (bytes: number) => GPUBuffer,
  free: (b: GPUBuffer) => void,
  xSkew: number,
  outSkew: number,
): void {
  const outputs = outer * inner;
  const arg = op === "argmax" || op === "argmin";
  // Split R when there are too few outputs to keep the device busy (not for arg-reductions).
  const chunks = arg || outputs >= 2048 || R < 4096
    ? 1
    : Math.min(Math.ceil(R / 1024), Math.ceil(8192 / outputs));
  if (chunks === 1) {
    const u = layout(arg).pack({ outer, R, inner, chunks: 1, chunkLen: R, skewX: xSkew, skewOut: outSkew });
    rt.dispatch(source(op), [x, out], u, Math.ceil(outputs / WG));
    return;
  }
  const chunkLen = Math.ceil(R / chunks);
  const partial = tmp(outer * chunks * inner * 4);
  rt.dispatch(
    source(op),
    [x, partial],
    layout(arg).pack({ outer, R, inner, chunks, chunkLen, skewX: xSkew, skewOut: 0 }),
    Math.ceil((outputs * chunks) / WG),
  );
  rt.dispatch(
    source(op),
    [partial, out],
    layout(arg).pack({ outer, R: chunks, inner, chunks: 1, chunkLen: chunks, skewX: 0, skewOut: outSkew }),
    Math.ceil(outputs / WG),
  );
  free(partial);
}
