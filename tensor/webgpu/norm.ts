/**
 * Group normalisation kernels (instance norm is the case groups = channels). Statistics take one read of x:
 * each invocation reduces an interleaved slice of a group, shifted by the group's first value, giving
 * (count, mean, M2); a second tiny pass merges the slices with Chan's parallel formula. This stays
 * accurate for million-element groups with a large mean offset, where Σx² − (Σx)²/n would cancel.
 */
import type { GroupNormArgs } from "../backend/geometry.ts";
import type { Runtime } from "./runtime.ts";
import { window } from "./chunk.ts";
import { type BufferDecl, type KernelLayout, kernelLayout } from "./kernel.ts";

const WG = 64;

/** Uniforms of the statistics passes: `rows` groups of `groupLen` values from group `row0` on. */
const STATS_UNIFORMS = {
  rows: "u32",
  groupLen: "u32",
  chunks: "u32",
  eps: "f32",
  /** Element skew of x inside its binding. */
  skewX: "u32",
  row0: "u32",
} as const;

/** Uniforms of the per-plane passes: `planes` (b, c) planes of S values from plane `plane0` on. */
const PLANE_UNIFORMS = {
  C: "u32",
  S: "u32",
  G: "u32",
  chunks: "u32",
  B: "u32",
  planes: "u32",
  plane0: "u32",
  /** Element skews of the x, dy and output bindings. */
  skewX: "u32",
  skewDy: "u32",
  skewOut: "u32",
} as const;
type PlaneLayout = KernelLayout<typeof PLANE_UNIFORMS>;

const read = (name: string, type = "f32"): BufferDecl => ({ name, type });
const write = (name: string, type = "f32"): BufferDecl => ({ name, type, access: "read_write" });

const PARTIAL_STATS = kernelLayout([read("X", "V"), write("Part")], STATS_UNIFORMS);
const MERGE_LAYOUT = kernelLayout([read("Part"), write("Stats"), read("X")], STATS_UNIFORMS);
const APPLY = [false, true].map((affine) =>
  kernelLayout(
    [read("X", "V"), read("Stats"), write("Y", "V"), ...(affine ? [read("Gamma"), read("Beta")] : [])],
    PLANE_UNIFORMS,
  )
);
const PARTIAL_GRAD = kernelLayout(
  [read("X", "V"), read("DY", "V"), read("Stats"), write("Part")],
  PLANE_UNIFORMS,
);
const COEF = [false, true].map((affine) =>
  kernelLayout(
    [read("Part"), write("Coef"), ...(affine ? [read("Gamma"), write("DGamma"), write("DBeta")] : [])],
    PLANE_UNIFORMS,
  )
);
const INPUT_GRAD = [false, true].map((affine) =>
  kernelLayout(
    [
      read("X", "V"),
      read("DY", "V"),
      read("Stats"),
      read("Coef"),
      write("DX", "V"),
      ...(affine ? [read("Gamma")] : []),
    ],
    PLANE_UNIFORMS,
  )
);
const pick = <T>(pair: T[], affine: boolean) => pair[affine ? 1 : 0];
/** Every per-plane kernel reads PLANE_UNIFORMS, so one packer serves them all. */
const packPlane = PARTIAL_GRAD.pack;

// Kernels run on vec4s when the plane size allows (V = vec4<f32>), else on scalars (V = f32); `hsum` folds a V.
function vecHead(vec: boolean): string {
  return vec
    ? "alias V = vec4<f32>;\nconst W = 4u;\nfn hsum(v: V) -> f32 { return v.x + v.y + v.z + v.w; }"
    : "alias V = f32;\nconst W = 1u;\nfn hsum(v: V) -> f32 { return v; }";
}

// Each invocation of the elementwise passes handles PER consecutive V's of one (b, c) plane, so the
// plane index costs one division per PER elements (integer division is slow on llvmpipe).
const PER = 4;

function partialStats(vec: boolean): string {
  return `${vecHead(vec)}
${PARTIAL_STATS.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${PARTIAL_STATS.lets}
  let t = linearGroup(wid, nwg) * ${WG}u + lid;
  let L = groupLen / W;
  if (t >= rows * chunks) { return; }
  let k = t % chunks; let row = t / chunks;
  let base = row * L + skewX / W;
  // One shift per group (its first value), so partial means are small numbers and merge without round-off.
  let shift = V(X[base]${vec ? ".x" : ""});
  var s1 = V(0.0); var s2 = V(0.0); var n = 0u;
  for (var i = k; i < L; i += chunks) {
    let d = X[base + i] - shift;
    s1 += d; s2 += d * d; n += W;
  }
  let nf = f32(n);
  var mean = 0.0; var m2 = 0.0;
  if (n > 0u) { let a = hsum(s1); mean = a / nf; m2 = max(hsum(s2) - a * a / nf, 0.0); }
  Part[t * 3u] = nf; Part[t * 3u + 1u] = mean; Part[t * 3u + 2u] = m2;
}`;
}

const MERGE_STATS = `${MERGE_LAYOUT.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${MERGE_LAYOUT.lets}
  let row = linearGroup(wid, nwg) * ${WG}u + lid;
  if (row >= rows) { return; }
  var n = 0.0; var mean = 0.0; var m2 = 0.0;
  for (var k = 0u; k < chunks; k++) {
    let p = (row * chunks + k) * 3u;
    let nb = Part[p];
    if (nb == 0.0) { continue; }
    let nab = n + nb;
    let delta = Part[p + 1u] - mean;
    mean += delta * nb / nab;
    m2 += Part[p + 2u] + delta * delta * n * nb / nab;
    n = nab;
  }
  let so = (row + row0) * 2u;
  Stats[so] = X[row * groupLen + skewX] + mean;
  Stats[so + 1u] = inverseSqrt(m2 / n + eps);
}`;

/** Shared prologue of the per-plane elementwise passes: plane bc, channel c, group row, first V index. */
function planeHead(vec: boolean, layout: PlaneLayout): string {
  return `${vecHead(vec)}
${layout.header}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout.lets}
  let t = linearGroup(wid, nwg) * 256u + lid;
  let SV = S / W;
  let parts = (SV + ${PER - 1}u) / ${PER}u;
  if (t >= planes * parts) { return; }
  let bc = t / parts; let part = t - bc * parts;
  let bcg = bc + plane0;
  let c = bcg % C; let b = bcg / C;
  let row = b * G + c / (C / G);
  let v0 = part * ${PER}u;
  let base = bc * SV;
  let xb = base + skewX / W; let gb = base + skewDy / W; let ob = base + skewOut / W;`;
}

function applySource(affine: boolean, vec: boolean): string {
  return `${planeHead(vec, pick(APPLY, affine))}
  let rstd = Stats[row * 2u + 1u];
  let a = rstd${affine ? " * Gamma[c]" : ""};
  let sh = ${affine ? "Beta[c]" : "0.0"} - Stats[row * 2u] * a;
  for (var j = 0u; j < ${PER}u; j++) {
    let v = v0 + j;
    if (v < SV) { Y[ob + v] = X[xb + v] * a + sh; }
  }
}`;
}

function partialGrad(vec: boolean): string {
  return `${vecHead(vec)}
${PARTIAL_GRAD.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${PARTIAL_GRAD.lets}
  let t = linearGroup(wid, nwg) * ${WG}u + lid;
  let SV = S / W;
  if (t >= planes * chunks) { return; }
  let k = t % chunks; let bc = t / chunks;
  let bcg = bc + plane0;
  let c = bcg % C; let b = bcg / C;
  let row = b * G + c / (C / G);
  let mean = Stats[row * 2u]; let rstd = Stats[row * 2u + 1u];
  var s1 = V(0.0); var s2 = V(0.0);
  let xb = bc * SV + skewX / W; let gb = bc * SV + skewDy / W;
  for (var i = k; i < SV; i += chunks) {
    let g = DY[gb + i];
    s1 += g; s2 += g * (X[xb + i] - V(mean));
  }
  let pt = t + plane0 * chunks;
  Part[pt * 2u] = hsum(s1); Part[pt * 2u + 1u] = hsum(s2) * rstd;
}`;
}

function coefSource(affine: boolean): string {
  const layout = pick(COEF, affine);
  return `${layout.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout.lets}
  let t = linearGroup(wid, nwg) * ${WG}u + lid;
  let Cg = C / G;
  if (t < B * G) {
    let b = t / G; let g = t % G;
    var a1 = 0.0; var a2 = 0.0;
    for (var c = g * Cg; c < (g + 1u) * Cg; c++) {
      var s1 = 0.0; var s2 = 0.0;
      for (var k = 0u; k < chunks; k++) { let p = ((b * C + c) * chunks + k) * 2u; s1 += Part[p]; s2 += Part[p + 1u]; }
      let gm = ${affine ? "Gamma[c]" : "1.0"};
      a1 += gm * s1; a2 += gm * s2;
    }
    let n = f32(Cg * S);
    Coef[t * 2u] = a1 / n; Coef[t * 2u + 1u] = a2 / n;
    return;
  }
  ${
    affine
      ? `let c = t - B * G;
  if (c >= C) { return; }
  var s1 = 0.0; var s2 = 0.0;
  for (var b = 0u; b < B; b++) {
    for (var k = 0u; k < chunks; k++) { let p = ((b * C + c) * chunks + k) * 2u; s1 += Part[p]; s2 += Part[p + 1u]; }
  }
  DBeta[c] = s1; DGamma[c] = s2;`
      : ""
  }
}`;
}

function inputGradSource(affine: boolean, vec: boolean): string {
  // dx = rstd·(dy·γ − c1 − x̂·c2) with x̂ = (x − mean)·rstd, folded into dy·p + x·q + r.
  return `${planeHead(vec, pick(INPUT_GRAD, affine))}
  let mean = Stats[row * 2u]; let rstd = Stats[row * 2u + 1u];
  let c1 = Coef[row * 2u]; let c2 = Coef[row * 2u + 1u];
  let p = rstd${affine ? " * Gamma[c]" : ""};
  let q = -rstd * rstd * c2;
  let r = -rstd * c1 + mean * rstd * rstd * c2;
  for (var j = 0u; j < ${PER}u; j++) {
    let v = v0 + j;
    if (v < SV) { DX[ob + v] = DY[gb + v] * p + X[xb + v] * q + r; }
  }
}`;
}

type Tmp = (bytes: number) => GPUBuffer;
type Free = (b: GPUBuffer) => void;

function chunksFor(rows: number, len: number, limitFloats: number, perRow: number): number {
  return Math.max(
    1,
    Math.min(Math.ceil(len / 64), Math.ceil(8192 / rows), Math.floor(limitFloats / (rows * perRow))),
  );
}

const floatsPerBinding = (rt: Runtime) => rt.bindingLimit / 4 - rt.offsetAlignment / 4;

/** Ranges [u0, u1) of `count` units of `unit` floats each that fit one binding (throws naming op if one does not). */
function ranges(rt: Runtime, count: number, unit: number): [number, number][] {
  const per = Math.min(count, Math.floor(floatsPerBinding(rt) / unit));
  if (per < 1) {
    throw new Error(
      `groupNorm: one group of ${unit} values exceeds the storage binding limit (${rt.bindingLimit} bytes)`,
    );
  }
  const out: [number, number][] = [];
  for (let u = 0; u < count; u += per) out.push([u, Math.min(count, u + per)]);
  return out;
}

/** stats [B·G, 2] = (mean, 1/√(var + eps)) of each group. */
export function runGroupNormStats(
  rt: Runtime,
  x: GPUBuffer,
  stats: GPUBuffer,
  a: GroupNormArgs,
  tmp: Tmp,
  free: Free,
): void {
  const L = (a.C / a.G) * a.S;
  // Tensors larger than one binding: whole groups per chunk.
  for (const [r0, r1] of ranges(rt, a.B * a.G, L)) {
    const rows = r1 - r0;
    const chunks = chunksFor(rows, L % 4 === 0 ? L / 4 : L, floatsPerBinding(rt), 3);
    const part = tmp(rows * chunks * 3 * 4);
    const wx = window(rt, x, r0 * L, rows * L);
    const whole = rows === a.B * a.G;
    const u = PARTIAL_STATS.pack({
      rows,
      groupLen: L,
      chunks,
      eps: a.eps,
      skewX: whole ? 0 : wx.skew,
      row0: r0,
    });
    const xb = whole ? x : wx.binding;
    rt.dispatch(partialStats(L % 4 === 0), [xb, part], u, Math.ceil((rows * chunks) / WG));
    rt.dispatch(MERGE_STATS, [part, stats, xb], u, Math.ceil(rows / WG));
    free(part);
  }
}

/** y = (x − mean)·rstd·gamma + beta. */
export function runGroupNormApply(
  rt: Runtime,
  x: GPUBuffer,
  stats: GPUBuffer,
  gamma: GPUBuffer | null,
  beta: GPUBuffer | null,
  y: GPUBuffer,
  a: GroupNormArgs,
): void {
  const affine = gamma !== null && beta !== null;
  const vec = a.S % 4 === 0;
  for (const [p0, p1] of ranges(rt, a.B * a.C, a.S)) {
    const np = p1 - p0, whole = np === a.B * a.C;
    const wx = window(rt, x, p0 * a.S, np * a.S), wy = window(rt, y, p0 * a.S, np * a.S);
    const xb = whole ? x : wx.binding, yb = whole ? y : wy.binding;
    const bufs = affine ? [xb, stats, yb, gamma!, beta!] : [xb, stats, yb];
    const threads = np * Math.ceil((vec ? a.S / 4 : a.S) / PER);
    const u = packPlane({
      ...a,
      chunks: 0,
      B: 0,
      planes: np,
      plane0: p0,
      skewX: whole ? 0 : wx.skew,
      skewDy: 0,
      skewOut: whole ? 0 : wy.skew,
    });
    rt.dispatch(applySource(affine, vec), bufs, u, Math.ceil(threads / 256));
  }
}

/** dx (and dgamma, dbeta when affine) of group norm for upstream dy. */
export function runGroupNormBackward(
  rt: Runtime,
  x: GPUBuffer,
  dy: GPUBuffer,
  stats: GPUBuffer,
  gamma: GPUBuffer | null,
  dx: GPUBuffer,
  dgamma: GPUBuffer | null,
  dbeta: GPUBuffer | null,
  a: GroupNormArgs,
  tmp: Tmp,
  free: Free,
): void {
  const affine = gamma !== null;
  const vec = a.S % 4 === 0;
  const planes = a.B * a.C;
  const chunks = chunksFor(planes, vec ? a.S / 4 : a.S, floatsPerBinding(rt), 2);
  const part = tmp(planes * chunks * 2 * 4);
  const coef = tmp(a.B * a.G * 2 * 4);
  const parts = ranges(rt, planes, a.S);
  const bind = (p0: number, np: number) => {
    const whole = np === planes;
    const wx = window(rt, x, p0 * a.S, np * a.S),
      wg = window(rt, dy, p0 * a.S, np * a.S),
      wo = window(rt, dx, p0 * a.S, np * a.S);
    return {
      xb: whole ? x : wx.binding,
      gb: whole ? dy : wg.binding,
      ob: whole ? dx : wo.binding,
      skews: whole
        ? { skewX: 0, skewDy: 0, skewOut: 0 }
        : { skewX: wx.skew, skewDy: wg.skew, skewOut: wo.skew },
    };
  };
  for (const [p0, p1] of parts) {
    const w = bind(p0, p1 - p0);
    const u = packPlane({ ...a, chunks, planes: p1 - p0, plane0: p0, ...w.skews });
    rt.dispatch(partialGrad(vec), [w.xb, w.gb, stats, part], u, Math.ceil(((p1 - p0) * chunks) / WG));
  }
  const scratch: GPUBuffer[] = [];
  const dg = dgamma ?? (affine ? (scratch.push(tmp(a.C * 4)), scratch.at(-1)!) : null);
  const db = dbeta ?? (affine ? (scratch.push(tmp(a.C * 4)), scratch.at(-1)!) : null);
  const uc = packPlane({ ...a, chunks, planes: 0, plane0: 0, skewX: 0, skewDy: 0, skewOut: 0 });
  rt.dispatch(
    coefSource(affine),
    affine ? [part, coef, gamma!, dg!, db!] : [part, coef],
    uc,
    Math.ceil((a.B * a.G + a.C) / WG),
  );
  for (const [p0, p1] of parts) {
    const w = bind(p0, p1 - p0);
    const u = packPlane({ ...a, chunks, planes: p1 - p0, plane0: p0, ...w.skews });
    const threads = (p1 - p0) * Math.ceil((vec ? a.S / 4 : a.S) / PER);
    const bufs = affine ? [w.xb, w.gb, stats, coef, w.ob, gamma!] : [w.xb, w.gb, stats, coef, w.ob];
    rt.dispatch(inputGradSource(affine, vec), bufs, u, Math.ceil(threads / 256));
  }
  free(part);
  free(coef);
  for (const s of scratch) free(s);
}
