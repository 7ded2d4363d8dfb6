/**
 * 3-D convolution forward as implicit GEMM, register-tiled: each invocation computes TCO output channels × TW
 * consecutive output voxels along W. The weights are first repacked into [Ci·Kd·Kh·Kw, Co padded to TCO]
 * so the inner loop loads them as vec4s (uniform across lanes); input rows are loaded once per (ci, kd, kh)
 * as a window shared by every kw. No workgroup memory or barriers (they cost more than they save on llvmpipe).
 * The input gradient (conv_input_grad.ts) runs this same kernel once per stride phase.
 *
 * Tensors larger than one storage binding run per sample, in input-channel groups (accumulating into y)
 * and output-channel tiles, each bound as a sub-range (4 output channels of one volume must fit a binding).
 */
import type { ConvGeometry } from "../backend/geometry.ts";
import type { Runtime } from "./runtime.ts";
import type { Free, Tmp } from "./allocator.ts";
import { kernelLayout } from "./kernel.ts";
import { window } from "./chunk.ts";

const WG = 64;

// Measured on llvmpipe (2 cores), 1×32×32³ 32→32 k3: tco×tw 4×4 9, 8×4 14, 8×8 20, 16×8 26, 16×16 32 GFLOP/s
// forward. Larger tiles (32×8) spill and drop below 10.
/** Tile per invocation (output channels × voxels along W), overridable for benchmarking. */
export const convTile = { tco: 16, tw: 16 };

// ---------------------------------------------------------------- weight repack

const REPACK_LAYOUT = kernelLayout([{ name: "W", type: "f32" }, {
  name: "P",
  type: "f32",
  access: "read_write",
}], {
  A: "u32",
  M: ["u32", 3],
  coPad: "u32",
  cOut: "u32",
  base: "i32",
  sA: "i32",
  sM: ["i32", 3],
  sC: "i32",
  n: "u32",
});

const REPACK = `${REPACK_LAYOUT.header}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${REPACK_LAYOUT.lets}
  let i = linearGroup(wid, nwg) * 256u + lid;
  if (i >= n) { return; }
  let c = i % coPad; var r = i / coPad;
  let mw = r % M(2u); r = r / M(2u);
  let mh = r % M(1u); r = r / M(1u);
  let md = r % M(0u); let a = r / M(0u);
  if (c >= cOut) { P[i] = 0.0; return; }
  let src = base + i32(a) * sA + i32(md) * sM(0u) + i32(mh) * sM(1u) + i32(mw) * sM(2u) + i32(c) * sC;
  P[i] = W[u32(src)];
}`;

interface Repack {
  A: number;
  M: number[];
  cOut: number;
  coPad: number;
  base: number;
  sA: number;
  sM: number[];
  sC: number;
}

/**
 * Writes the GEMM's weight layout P [A·M, coPad] from w read at base + a·sA + m·sM + c·sC: the forward
 * transposes w with it; the input gradient also flips it and keeps one phase's taps.
 */
export function repack(rt: Runtime, w: GPUBuffer, p: GPUBuffer, r: Repack): void {
  const n = r.A * r.M[0] * r.M[1] * r.M[2] * r.coPad;
  rt.dispatch(REPACK, [w, p], REPACK_LAYOUT.pack({ ...r, n }), Math.ceil(n / 256));
}

// ---------------------------------------------------------------- forward-style kernel

interface GemmSpec {
  K: number[];
  S: number[];
  Dl: number[];
  OS: number[];
  tco: number;
  tw: number;
  bias: boolean;
  /** Add into y instead of overwriting it (later input-channel chunks of a huge tensor). */
  acc: boolean;
}

const GEMM_UNIFORMS = {
  Ci: "u32",
  Di: "i32",
  Hi: "i32",
  Wi: "i32",
  /** Output channels padded to the tile, in vec4s. */
  CoV: "u32",
  Co: "u32",
  /** Computed outputs per axis (the lattice). */
  Do: "u32",
  Ho: "u32",
  Wo: "u32",
  padD: "i32",
  padH: "i32",
  padW: "i32",
  /** Full output dims: the lattice point (od, oh, ow) lands at (od·OS + latD, …). */
  ODf: "u32",
  OHf: "u32",
  OWf: "u32",
  latD: "u32",
  latH: "u32",
  latW: "u32",
  tilesW: "u32",
  tilesCo: "u32",
  total: "u32",
  /** Element skews of x, y and the packed weights (vec4s) inside their bindings. */
  skewX: "u32",
  skewY: "u32",
  skewP: "u32",
  /** First output-channel tile of this dispatch. */
  tile0: "u32",
} as const;

const gemmBuffers = [
  { name: "X", type: "f32" },
  { name: "P", type: "vec4<f32>" },
  { name: "Y", type: "f32", access: "read_write" },
] as const;
const GEMM_LAYOUTS = [false, true].map((bias) =>
  kernelLayout(bias ? [...gemmBuffers, { name: "Bias", type: "f32" }] : gemmBuffers, GEMM_UNIFORMS)
);
const gemmLayout = (bias: boolean) => GEMM_LAYOUTS[bias ? 1 : 0];

function gemmSource(s: GemmSpec): string {
  const TV = s.tco / 4, TW = s.tw;
  const NX = (TW - 1) * s.S[2] + (s.K[2] - 1) * s.Dl[2] + 1;
  const V = [...Array(TV).keys()], J = [...Array(TW).keys()], X = [...Array(NX).keys()];
  const acc = V.map((v) => J.map((j) => `var a${v}_${j} = vec4<f32>(0.0);`).join(" ")).join("\n  ");
  const win = X.map((n) =>
    `let c${n} = iw0 + ${n}; let ok${n} = c${n} >= 0 && c${n} < Wi; let cc${n} = u32(clamp(c${n}, 0, Wi - 1));`
  )
    .join("\n  ");
  const loadX = X.map((n) => `let x${n} = select(0.0, X[rowBase + cc${n}], ok${n});`).join("\n          ");
  let inner = "";
  for (let kw = 0; kw < s.K[2]; kw++) {
    inner += V.map((v) => `let w${kw}_${v} = P[pBase + ${kw}u * CoV + ${v}u];`).join(" ") + "\n          ";
    for (const v of V) {
      inner += J.map((j) =>
        `a${v}_${j} = a${v}_${j} + x${j * s.S[2] + kw * s.Dl[2]} * w${kw}_${v};`
      ).join(" ") +
        "\n          ";
    }
  }
  const store = V.map((v) =>
    [0, 1, 2, 3].map((c) => {
      const co = `co${v}_${c}`;
      return `{ let ${co} = co0 + ${v * 4 + c}u; if (${co} < Co) { let bv = ${
        s.bias ? `Bias[${co} + tile0 * ${s.tco}u]` : "0.0"
      };
    let yBase = (((b * Co + ${co}) * ODf + od * ${s.OS[0]}u + latD) * OHf + oh * ${
        s.OS[1]
      }u + latH) * OWf + latW + skewY;
    ${
        J.map((j) =>
          `if (ow0 + ${j}u < Wo) { let yi = yBase + (ow0 + ${j}u) * ${s.OS[2]}u; Y[yi] = ${
            s.acc ? "Y[yi] + " : ""
          }a${v}_${j}[${c}] + bv; }`
        ).join(" ")
      } } }`;
    }).join("\n  ")
  ).join("\n  ");
  const layout = gemmLayout(s.bias);
  return `${layout.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout.lets}
  let t = linearGroup(wid, nwg) * ${WG}u + lid;
  if (t >= total) { return; }
  let wt = t % tilesW; var r = t / tilesW;
  let oh = r % Ho; r = r / Ho;
  let od = r % Do; r = r / Do;
  let ct = r % tilesCo; let b = r / tilesCo;
  let ow0 = wt * ${TW}u; let co0 = ct * ${s.tco}u;
  let iw0 = i32(ow0 * ${s.S[2]}u) - padW;
  let ih0 = i32(oh * ${s.S[1]}u) - padH;
  let id0 = i32(od * ${s.S[0]}u) - padD;
  ${acc}
  ${win}
  for (var ci = 0u; ci < Ci; ci++) {
    let chan = (b * Ci + ci) * u32(Di);
    for (var kd = 0u; kd < ${s.K[0]}u; kd++) {
      let id = id0 + i32(kd * ${s.Dl[0]}u);
      if (id < 0 || id >= Di) { continue; }
      for (var kh = 0u; kh < ${s.K[1]}u; kh++) {
        let ih = ih0 + i32(kh * ${s.Dl[1]}u);
        if (ih < 0 || ih >= Hi) { continue; }
        let rowBase = ((chan + u32(id)) * u32(Hi) + u32(ih)) * u32(Wi) + skewX;
        let pBase = ((ci * ${s.K[0]}u + kd) * ${s.K[1]}u + kh) * ${
    s.K[2]
  }u * CoV + (ct + tile0) * ${TV}u + skewP;
        ${loadX}
        ${inner}
      }
    }
  }
  ${store}
}`;
}

interface GemmCall {
  x: GPUBuffer;
  p: GPUBuffer;
  bias: GPUBuffer | null;
  y: GPUBuffer;
  B: number;
  Ci: number;
  inDims: number[];
  Co: number;
  coPad: number;
  /** Computed outputs per axis (the lattice). */
  count: number[];
  padBefore: number[];
  outFull: number[];
  latticeOffset: number[];
  spec: GemmSpec;
}

/** Convolves x with packed weights p into y (the lattice `count` of it), in binding-sized pieces when needed. */
export function gemm(rt: Runtime, c: GemmCall): void {
  const tilesW = Math.ceil(c.count[2] / c.spec.tw);
  const inVol = c.inDims[0] * c.inDims[1] * c.inDims[2], outVol = c.outFull[0] * c.outFull[1] * c.outFull[2];
  const K3 = c.spec.K[0] * c.spec.K[1] * c.spec.K[2];
  const run = (
    B: number,
    Ci: number,
    coTiles: number,
    x: GPUBuffer | GPUBufferBinding,
    p: GPUBuffer | GPUBufferBinding,
    y: GPUBuffer | GPUBufferBinding,
    skews: number[],
    acc: boolean,
    bias: boolean,
  ) => {
    const total = tilesW * c.count[1] * c.count[0] * coTiles * B;
    if (total === 0) return;
    const [Di, Hi, Wi] = c.inDims, [Do, Ho, Wo] = c.count, [padD, padH, padW] = c.padBefore;
    const [ODf, OHf, OWf] = c.outFull, [latD, latH, latW] = c.latticeOffset;
    const [skewX, skewY, skewP, tile0] = skews;
    const u = gemmLayout(bias).pack({
      Ci,
      Di,
      Hi,
      Wi,
      CoV: c.coPad / 4,
      Co: Math.min(c.Co - tile0 * c.spec.tco, coTiles * c.spec.tco),
      Do,
      Ho,
      Wo,
      padD,
      padH,
      padW,
      ODf,
      OHf,
      OWf,
      latD,
      latH,
      latW,
      tilesW,
      tilesCo: coTiles,
      total,
      skewX,
      skewY,
      skewP,
      tile0,
    });
    const buffers = [x, p, y];
    if (bias) buffers.push(c.bias!);
    rt.dispatch(gemmSource({ ...c.spec, acc, bias }), buffers, u, Math.ceil(total / WG));
  };
  const slack = rt.offsetAlignment / 4;
  const limit = rt.bindingLimit / 4 - slack; // elements per binding, leaving room for alignment skew
  const tiles = c.coPad / c.spec.tco;
  if (c.B * c.Ci * inVol <= limit && c.B * c.Co * outVol <= limit && c.Ci * K3 * c.coPad <= limit) {
    run(c.B, c.Ci, tiles, c.x, c.p, c.y, [0, 0, 0, 0], false, c.bias !== null);
    return;
  }
  // Larger than one binding: per sample, input channels in groups (accumulating) × output-channel tiles.
  const ciPer = Math.min(c.Ci, Math.floor(limit / inVol), Math.floor(limit / (K3 * c.coPad)));
  const tilesPer = Math.min(tiles, Math.floor(limit / (c.spec.tco * outVol)));
  if (ciPer < 1 || tilesPer < 1) {
    throw new Error(
      `conv3d: one channel of [${c.inDims}] or ${c.spec.tco} of [${c.outFull}] exceeds the storage binding limit (${rt.bindingLimit} bytes)`,
    );
  }
  for (let b = 0; b < c.B; b++) {
    for (let t0 = 0; t0 < tiles; t0 += tilesPer) {
      const nt = Math.min(tilesPer, tiles - t0);
      const co0 = t0 * c.spec.tco, coN = Math.min(c.Co - co0, nt * c.spec.tco);
      const wy = window(rt, c.y, (b * c.Co + co0) * outVol, coN * outVol);
      for (let ci0 = 0; ci0 < c.Ci; ci0 += ciPer) {
        const n = Math.min(ciPer, c.Ci - ci0);
        const wx = window(rt, c.x, (b * c.Ci + ci0) * inVol, n * inVol);
        const wp = window(rt, c.p, ci0 * K3 * c.coPad, n * K3 * c.coPad);
        run(
          1,
          n,
          nt,
          wx.binding,
          wp.binding,
          wy.binding,
          [wx.skew, wy.skew, wp.skew / 4, t0],
          ci0 > 0,
          ci0 === 0 && c.bias !== null,
        );
      }
    }
  }
}

/** Output-channel tile for `co` channels of `outVol` voxels. */
export function tileCo(rt: Runtime, co: number, outVol: number): number {
  // Small channel counts waste less with a narrower tile; huge volumes need one that fits a binding.
  let t = co <= 4 ? 4 : co <= 8 ? Math.min(8, convTile.tco) : convTile.tco;
  while (t > 4 && t * outVol > rt.bindingLimit / 4 - rt.offsetAlignment / 4) t /= 2;
  return t;
}

/** Voxels along W per invocation for rows of `w`. */
export function tileW(w: number): number {
  // As few row tiles as the widest tile allows, evened out so the last one is not mostly padding (33 → 3 × 11).
  const tiles = Math.ceil(w / convTile.tw);
  return Math.max(Math.min(4, w), Math.ceil(w / tiles));
}

/** y = conv(x, w) + bias. */
export function runConvForward(
  rt: Runtime,
  x: GPUBuffer,
  w: GPUBuffer,
  bias: GPUBuffer | null,
  y: GPUBuffer,
  g: ConvGeometry,
  tmp: Tmp,
  free: Free,
): void {
  const [Kd, Kh, Kw] = g.kernel, K3 = Kd * Kh * Kw;
  const tco = tileCo(rt, g.Co, g.outDims[0] * g.outDims[1] * g.outDims[2]),
    coPad = Math.ceil(g.Co / tco) * tco;
  const p = tmp(g.Ci * K3 * coPad * 4);
  repack(rt, w, p, {
    A: g.Ci,
    M: g.kernel,
    cOut: g.Co,
    coPad,
    base: 0,
    sA: K3,
    sM: [Kh * Kw, Kw, 1],
    sC: g.Ci * K3,
  });
  gemm(rt, {
    x,
    p,
    bias,
    y,
    B: g.B,
    Ci: g.Ci,
    inDims: g.inDims,
    Co: g.Co,
    coPad,
    count: g.outDims,
    padBefore: g.padBefore,
    outFull: g.outDims,
    latticeOffset: [0, 0, 0],
    spec: {
      K: g.kernel,
      S: g.stride,
      Dl: g.dilation,
      OS: [1, 1, 1],
      tco,
      tw: tileW(g.outDims[2]),
      bias: bias !== null,
      acc: false,
    },
  });
  free(p);
}
