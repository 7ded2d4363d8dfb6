/**
 * Index tables of the implicit-GEMM convolution: which source voxel each (kernel tap, column voxel) pair reads,
 * per axis, so the packing loop does three table lookups instead of divisions. Forward and weight gradient read
 * x at o·stride − pad + k·dilation; the input gradient reads dy at (i + pad − k·dilation)/stride where that is
 * a whole in-range sample (no parity phases needed: other taps read as zeros).
 */
import type { ConvGeometry } from "../backend/geometry.ts";

/** Row table (4 words per im2col row), per-axis tables (−1 where the tap reads padding) and the column dims. */
export interface ConvTables {
  rowTab: Int32Array;
  tabD: Int32Array;
  tabH: Int32Array;
  tabW: Int32Array;
  cols: number[];
}

/**
 * Tables are pure functions of the geometry and a network repeats a few geometries every step: build each once.
 * Bounded so a run over many shapes cannot grow it without end (cleared when full; callers only read them).
 */
const built = new Map<string, ConvTables | Int32Array>();
function memo<T extends ConvTables | Int32Array>(key: string, build: () => T): T {
  let t = built.get(key) as T | undefined;
  if (!t) {
    if (built.size >= 256) built.clear();
    built.set(key, t = build());
  }
  return t;
}
const geometryKey = (g: ConvGeometry) =>
  [g.Ci, g.Co, g.inDims, g.outDims, g.kernel, g.stride, g.padBefore, g.dilation].join("|");

/** Tables for the forward/weight-gradient gather (rows over Ci·K³) or the input-gradient one (rows over Co·K³). */
export function convTables(g: ConvGeometry, mode: "forward" | "inputGrad" | "weightGrad"): ConvTables {
  return memo(`${mode}|${geometryKey(g)}`, () => buildConvTables(g, mode));
}

function buildConvTables(g: ConvGeometry, mode: "forward" | "inputGrad" | "weightGrad"): ConvTables {
  const grad = mode === "inputGrad";
  const src = grad ? g.outDims : g.inDims, cols = grad ? g.inDims : g.outDims;
  const chans = grad ? g.Co : g.Ci;
  const srcVol = src[0] * src[1] * src[2];
  const [Kd, Kh, Kw] = g.kernel;
  const axisScale = [src[1] * src[2], src[2], 1];
  const tabs = [0, 1, 2].map((ax) => {
    const K = g.kernel[ax], n = cols[ax], t = new Int32Array(K * n);
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < n; j++) {
        let s: number;
        if (!grad) s = j * g.stride[ax] - g.padBefore[ax] + k * g.dilation[ax];
        else {
          const u = j + g.padBefore[ax] - k * g.dilation[ax];
          s = u % g.stride[ax] === 0 ? u / g.stride[ax] : -1;
        }
        t[k * n + j] = s >= 0 && s < src[ax] ? s * axisScale[ax] : -1;
      }
    }
    return t;
  });
  const rows = chans * Kd * Kh * Kw;
  const rowTab = new Int32Array(rows * 4);
  let r = 0;
  for (let c = 0; c < chans; c++) {
    for (let kd = 0; kd < Kd; kd++) {
      for (let kh = 0; kh < Kh; kh++) {
        for (let kw = 0; kw < Kw; kw++, r++) {
          rowTab.set([c * srcVol, kd * cols[0], kh * cols[1], kw * cols[2]], r * 4);
        }
      }
    }
  }
  return { rowTab, tabD: tabs[0], tabH: tabs[1], tabW: tabs[2], cols: [...cols] };
}

/**
 * Offsets of the direct (stride-1) convolutions: for im2col row r = (ci, kd, kh, kw), where its tap reads in the
 * zero-padded input [Ci, padded] relative to the output voxel's corner.
 */
export function directOffsets(g: ConvGeometry, padded: number[]): Int32Array {
  return memo(`direct|${g.Ci}|${g.kernel}|${padded}`, () => buildDirectOffsets(g, padded));
}

function buildDirectOffsets(g: ConvGeometry, padded: number[]): Int32Array {
  const [Kd, Kh, Kw] = g.kernel, padVol = padded[0] * padded[1] * padded[2];
  const table = new Int32Array(g.Ci * Kd * Kh * Kw);
  let r = 0;
  for (let ci = 0; ci < g.Ci; ci++) {
    for (let kd = 0; kd < Kd; kd++) {
      for (let kh = 0; kh < Kh; kh++) {
        for (let kw = 0; kw < Kw; kw++) table[r++] = ci * padVol + (kd * padded[1] + kh) * padded[2] + kw;
      }
    }
  }
  return table;
}
