/**
 * Weight gradient of a 3-D convolution: dw = Σ over batch and output voxels of dy ⊗ x-window. Each
 * invocation owns TCO × TCI weight rows (all kw taps of one (kd, kh)); the (batch, depth) reduction is split
 * into chunks when there are too few weight tiles to fill the device, and the chunks summed by a second pass.
 *
 * Tensors larger than one storage binding run one sample at a time in channel groups that fit a binding;
 * the per-sample partials are summed.
 */
import type { ConvGeometry } from "../backend/geometry.ts";
import type { Runtime } from "./runtime.ts";
import type { Free, Tmp } from "./allocator.ts";
import { kernelLayout } from "./kernel.ts";
import { runReduce } from "./reduce.ts";
import { window } from "./chunk.ts";

const WG = 64;

// Measured on llvmpipe (2 cores), 1×32×32³ 32→32 k3: 4co×2ci 13, 8×4 23 GFLOP/s. Splitting the loop into
// unchecked interior / checked edge blocks made it 2× slower (code size).
/** Tile per invocation (output × input channels), overridable for benchmarking. */
export const convWeightGradTile = { tco: 8, tci: 4 };

interface WgradSpec {
  K: number[];
  S: number[];
  Dl: number[];
  tco: number;
  tci: number;
}

const WGRAD_LAYOUT = kernelLayout(
  [
    { name: "X", type: "f32" },
    { name: "DY", type: "f32" },
    { name: "DW", type: "f32", access: "read_write" },
  ],
  {
    B: "u32",
    Ci: "u32",
    Di: "i32",
    Hi: "i32",
    Wi: "i32",
    Co: "u32",
    Do: "u32",
    Ho: "u32",
    Wo: "u32",
    padD: "i32",
    padH: "i32",
    padW: "i32",
    tilesCo: "u32",
    tilesCi: "u32",
    /** (batch, depth) rows reduced per chunk; each chunk writes its own copy of dw. */
    chunkLen: "u32",
    total: "u32",
    chunks: "u32",
    /** Element skews of x and dy inside their bindings. */
    skewX: "u32",
    skewDy: "u32",
    /** Channel offsets of this dispatch into dw, which is [CoAll, CiAll, k…] at skewOut in its binding. */
    coOff: "u32",
    ciOff: "u32",
    CoAll: "u32",
    CiAll: "u32",
    skewOut: "u32",
  } as const,
);

function wgradSource(s: WgradSpec): string {
  const TW = 4, Kw = s.K[2];
  const NX = (TW - 1) * s.S[2] + (Kw - 1) * s.Dl[2] + 1;
  const C = [...Array(s.tco).keys()], I = [...Array(s.tci).keys()], KW = [...Array(Kw).keys()];
  const X = [...Array(NX).keys()];
  const acc = C.map((c) => I.map((i) => KW.map((k) => `var a${c}_${i}_${k} = 0.0;`).join(" ")).join(" "))
    .join("\n  ");
  const loadG = C.map((c) =>
    `let g${c} = vec4<f32>(${
      [0, 1, 2, 3].map((j) => `select(0.0, DY[gRow${c} + min(ow0 + ${j}u, Wo - 1u)], ow0 + ${j}u < Wo)`).join(
        ", ",
      )
    });`
  ).join("\n          ");
  const loadX = I.map((i) =>
    X.map((n) =>
      `let x${i}_${n} = select(0.0, X[xRow${i} + u32(clamp(iw0 + ${n}, 0, Wi - 1))], iw0 + ${n} >= 0 && iw0 + ${n} < Wi);`
    )
      .join(" ")
  ).join("\n          ");
  const xv = I.map((i) =>
    KW.map((k) =>
      `let v${i}_${k} = vec4<f32>(${
        [0, 1, 2, 3].map((j) => `x${i}_${j * s.S[2] + k * s.Dl[2]}`).join(", ")
      });`
    ).join(" ")
  ).join("\n          ");
  const fma = C.map((c) =>
    I.map((i) => KW.map((k) => `a${c}_${i}_${k} = a${c}_${i}_${k} + dot(g${c}, v${i}_${k});`).join(" ")).join(
      " ",
    )
  ).join("\n          ");
  const gRows = C.map((c) =>
    `let gRow${c} = ((b * Co + min(co0 + ${c}u, Co - 1u)) * Do + od) * Ho * Wo + oh * Wo + skewDy;`
  )
    .join("\n      ");
  const xRows = I.map((i) =>
    `let xRow${i} = (((b * Ci + min(ci0 + ${i}u, Ci - 1u)) * u32(Di) + u32(id)) * u32(Hi) + u32(ih)) * u32(Wi) + skewX;`
  ).join("\n        ");
  const store = C.map((c) =>
    I.map((i) =>
      `if (co0 + ${c}u < Co && ci0 + ${i}u < Ci) { let o = outBase + ((((co0 + ${c}u + coOff) * CiAll + ci0 + ${i}u + ciOff) * ${
        s.K[0]
      }u + kd) * ${s.K[1]}u + kh) * ${Kw}u; ${KW.map((k) => `DW[o + ${k}u] = a${c}_${i}_${k};`).join(" ")} }`
    ).join("\n  ")
  ).join("\n  ");
  return `${WGRAD_LAYOUT.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${WGRAD_LAYOUT.lets}
  let t = linearGroup(wid, nwg) * ${WG}u + lid;
  if (t >= total) { return; }
  var r = t;
  let kh = r % ${s.K[1]}u; r = r / ${s.K[1]}u;
  let kd = r % ${s.K[0]}u; r = r / ${s.K[0]}u;
  let cit = r % tilesCi; r = r / tilesCi;
  let cot = r % tilesCo; let chunk = r / tilesCo;
  let co0 = cot * ${s.tco}u; let ci0 = cit * ${s.tci}u;
  let outBase = chunk * CoAll * CiAll * ${s.K[0] * s.K[1] * Kw}u + skewOut;
  ${acc}
  let r0 = chunk * chunkLen; let r1 = min(B * Do, r0 + chunkLen);
  for (var bo = r0; bo < r1; bo++) {
    let b = bo / Do; let od = bo % Do;
    let id = i32(od * ${s.S[0]}u + kd * ${s.Dl[0]}u) - padD;
    if (id < 0 || id >= Di) { continue; }
    for (var oh = 0u; oh < Ho; oh++) {
      let ih = i32(oh * ${s.S[1]}u + kh * ${s.Dl[1]}u) - padH;
      if (ih < 0 || ih >= Hi) { continue; }
      ${gRows}
        ${xRows}
      for (var ow0 = 0u; ow0 < Wo; ow0 += 4u) {
        let iw0 = i32(ow0 * ${s.S[2]}u) - padW;
          ${loadG}
          ${loadX}
          ${xv}
          ${fma}
      }
    }
  }
  ${store}
}`;
}

/** dw = Σ over batch and output voxels of dy ⊗ x-window; writes [Co, Ci, Kd, Kh, Kw]. */
export function runConvWeightGrad(
  rt: Runtime,
  x: GPUBuffer,
  dy: GPUBuffer,
  dw: GPUBuffer,
  g: ConvGeometry,
  tmp: Tmp,
  free: Free,
): void {
  const tco = g.Co <= 4 ? 4 : convWeightGradTile.tco, tci = Math.min(g.Ci, convWeightGradTile.tci);
  const spec = { K: g.kernel, S: g.stride, Dl: g.dilation, tco, tci };
  const size = g.Co * g.Ci * g.kernel[0] * g.kernel[1] * g.kernel[2];
  const inVol = g.inDims[0] * g.inDims[1] * g.inDims[2], outVol = g.outDims[0] * g.outDims[1] * g.outDims[2];
  const run = (
    B: number,
    Ci: number,
    Co: number,
    xb: GPUBuffer | GPUBufferBinding,
    gb: GPUBuffer | GPUBufferBinding,
    target: GPUBuffer | GPUBufferBinding,
    rowsPerChunk: number,
    nChunks: number,
    place: { skewX: number; skewDy: number; coOff: number; ciOff: number; skewOut: number },
  ) => {
    const tilesCo = Math.ceil(Co / tco), tilesCi = Math.ceil(Ci / tci);
    const total = tilesCo * tilesCi * g.kernel[0] * g.kernel[1] * nChunks;
    const [Di, Hi, Wi] = g.inDims, [Do, Ho, Wo] = g.outDims, [padD, padH, padW] = g.padBefore;
    const u = WGRAD_LAYOUT.pack({
      B,
      Ci,
      Di,
      Hi,
      Wi,
      Co,
      Do,
      Ho,
      Wo,
      padD,
      padH,
      padW,
      tilesCo,
      tilesCi,
      chunkLen: rowsPerChunk,
      total,
      chunks: nChunks,
      ...place,
      CoAll: g.Co,
      CiAll: g.Ci,
    });
    rt.dispatch(wgradSource(spec), [xb, gb, target], u, Math.ceil(total / WG));
  };
  const limit = rt.bindingLimit / 4 - rt.offsetAlignment / 4;
  if (g.B * g.Ci * inVol <= limit && g.B * g.Co * outVol <= limit) {
    const tiles = Math.ceil(g.Co / tco) * Math.ceil(g.Ci / tci) * g.kernel[0] * g.kernel[1];
    const rows = g.B * g.outDims[0];
    // Split the (batch, depth) reduction when there are too few weight tiles to fill the device.
    const chunks = Math.max(1, Math.min(rows, Math.ceil(4096 / tiles), Math.floor(limit / size)));
    const chunkLen = Math.ceil(rows / chunks);
    const nChunks = Math.ceil(rows / chunkLen);
    const target = nChunks === 1 ? dw : tmp(nChunks * size * 4);
    run(g.B, g.Ci, g.Co, x, dy, target, chunkLen, nChunks, {
      skewX: 0,
      skewDy: 0,
      coOff: 0,
      ciOff: 0,
      skewOut: 0,
    });
    if (target !== dw) {
      runReduce(rt, "sum", target, dw, 1, nChunks, size, tmp, free);
      free(target);
    }
    return;
  }
  // Larger than one binding: one sample at a time, channel groups that fit; per-sample partials summed.
  const ciPer = Math.min(g.Ci, Math.floor(limit / inVol)), coPer = Math.min(g.Co, Math.floor(limit / outVol));
  if (ciPer < 1 || coPer < 1 || size > limit) {
    throw new Error(
      `conv3d weight gradient: one channel of [${g.inDims}] / [${g.outDims}] exceeds the storage binding limit (${rt.bindingLimit} bytes)`,
    );
  }
  const partial = g.B === 1 ? dw : tmp(g.B * size * 4);
  for (let b = 0; b < g.B; b++) {
    const wo = window(rt, partial, b * size, size);
    for (let co0 = 0; co0 < g.Co; co0 += coPer) {
      const nco = Math.min(coPer, g.Co - co0);
      const wg = window(rt, dy, (b * g.Co + co0) * outVol, nco * outVol);
      for (let ci0 = 0; ci0 < g.Ci; ci0 += ciPer) {
        const nci = Math.min(ciPer, g.Ci - ci0);
        const wx = window(rt, x, (b * g.Ci + ci0) * inVol, nci * inVol);
        run(1, nci, nco, wx.binding, wg.binding, wo.binding, g.outDims[0], 1, {
          skewX: wx.skew,
          skewDy: wg.skew,
          coOff: co0,
          ciOff: ci0,
          skewOut: wo.skew,
        });
      }
    }
  }
  if (partial !== dw) {
    runReduce(rt, "sum", partial, dw, 1, g.B, size, tmp, free);
    free(partial);
  }
}
