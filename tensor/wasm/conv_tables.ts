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
const built = new Map<string, ConvTables | PaddedTables | Int32Array | null>();
function memo<T extends ConvTables | PaddedTables | Int32Array | null>(key: string, build: () => T): T {
  if (built.has(key)) return built.get(key) as T;
  if (built.size >= 256) built.clear();
  const t = build();
  built.set(key, t);
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

/**
 * The small convolutions' gather on a zero-padded copy of the source (as/conv_small.ts): im2col row r reads
 * xp[offs[r] + cols[j]] for column voxel j. Forward and weight gradient: the source is x, rows (ci, tap). Input
 * gradient (stride 1 only): the source is dy padded by (K − 1)·dilation − pad, rows (co, tap) with each tap
 * reading its mirror image, so that A = wᵀ is read from w in place. Null where that padding would be negative.
 */
export interface PaddedTables {
  offs: Int32Array;
  /** Whole 8-column panels: entries past the last column keep increasing by 1. */
  cols: Int32Array;
  /** Source channels, their dims, the padded dims and where the source sits in them. */
  chans: number;
  src: number[];
  padded: number[];
  at: number[];
}

export function paddedTables(g: ConvGeometry, mode: "forward" | "inputGrad"): PaddedTables | null {
  return memo(`padded|${mode}|${geometryKey(g)}`, () => buildPaddedTables(g, mode));
}

function buildPaddedTables(g: ConvGeometry, mode: "forward" | "inputGrad"): PaddedTables | null {
  const grad = mode === "inputGrad";
  const src = grad ? g.outDims : g.inDims, colDims = grad ? g.inDims : g.outDims;
  const reach = g.kernel.map((k, a) => (k - 1) * g.dilation[a]);
  const at = grad ? reach.map((r, a) => r - g.padBefore[a]) : [...g.padBefore];
  if (at.some((p) => p < 0) || (grad && g.stride.some((s) => s !== 1))) return null;
  const step = grad ? [1, 1, 1] : g.stride;
  const padded = [0, 1, 2].map((a) => Math.max(src[a] + at[a], (colDims[a] - 1) * step[a] + reach[a] + 1));
  const plane = padded[1] * padded[2], padVol = padded[0] * plane;
  const chans = grad ? g.Co : g.Ci;
  const [Kd, Kh, Kw] = g.kernel, [dd, dh, dw] = g.dilation;
  const offs = new Int32Array(chans * Kd * Kh * Kw);
  let r = 0;
  for (let c = 0; c < chans; c++) {
    for (let kd = 0; kd < Kd; kd++) {
      for (let kh = 0; kh < Kh; kh++) {
        for (let kw = 0; kw < Kw; kw++, r++) {
          const [td, th, tw] = grad ? [Kd - 1 - kd, Kh - 1 - kh, Kw - 1 - kw] : [kd, kh, kw];
          offs[r] = c * padVol + td * dd * plane + th * dh * padded[2] + tw * dw;
        }
      }
    }
  }
  const P = colDims[0] * colDims[1] * colDims[2];
  const cols = new Int32Array(Math.ceil(P / 8) * 8);
  let j = 0;
  for (let d = 0; d < colDims[0]; d++) {
    for (let h = 0; h < colDims[1]; h++) {
      for (let w = 0; w < colDims[2]; w++) {
        cols[j++] = d * step[0] * plane + h * step[1] * padded[2] + w * step[2];
      }
    }
  }
  for (; j < cols.length; j++) cols[j] = cols[j - 1] + 1;
  return { offs, cols, chans, src: [...src], padded, at };
}
