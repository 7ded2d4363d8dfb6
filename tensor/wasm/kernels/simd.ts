/**
 * The loops of kernels.wasm (as/kernels.ts, SIMD128 where it pays): contiguous float32 elementwise ops, group
 * norm, optimizer updates, scheduler step, noise mix, constant pad, sums, nearest resampling, attention and
 * the Philox random fills, called per chunk by the JavaScript kernels,
 * which keep every other case.
 */
import type { MapOp } from "../../backend/ops.ts";

/** Exports of kernels.wasm (see as/kernels.ts). */
export interface SimdExports {
  unaryF32(op: number, out: number, a: number, n: number, s0: number, s1: number): void;
  binaryF32(
    op: number,
    layout: number,
    out: number,
    a: number,
    b: number,
    n: number,
    inner: number,
    i0: number,
  ): void;
  gnRowStats(x: number, L: number, stats: number, eps: number): void;
  gnApply(x: number, y: number, S: number, scale: number, shift: number): void;
  gnPartial(x: number, dy: number, S: number, mean: number, rstd: number, part: number): void;
  gnInputGrad(x: number, dy: number, dx: number, S: number, p: number, q: number, r: number): void;
  adamF32(
    p: number,
    g: number,
    m: number,
    v: number,
    n: number,
    b1: number,
    b2: number,
    eps: number,
    wd: number,
    stepSize: number,
    bc2: number,
    decoupled: number,
    omb1: number,
    omb2: number,
    decay: number,
  ): void;
  sgdF32(
    p: number,
    g: number,
    m: number,
    n: number,
    lr: number,
    wd: number,
    mom: number,
    damp: number,
    first: number,
    nesterov: number,
    hasState: number,
  ): void;
  philox(
    kind: number,
    out: number,
    start: number,
    end: number,
    perSample: number,
    sampleOffset: number,
    seed: number,
    stream: number,
    step: number,
    lane: number,
    a: number,
    b: number,
  ): void;
  sumRows(x: number, out: number, rows: number, R: number): void;
  sumCols(x: number, out: number, R: number, stride: number, w: number): void;
  schedulerStep(
    ddim: number,
    clip: number,
    hasNoise: number,
    sample: number,
    model: number,
    noise: number,
    prev: number,
    pred: number,
    start: number,
    end: number,
    a: number,
    b: number,
    c: number,
    d: number,
    e: number,
    f: number,
    lo: number,
    hi: number,
    p: number,
    q: number,
    s: number,
  ): void;
  noiseMix(
    velocity: number,
    orig: number,
    noise: number,
    ts: number,
    table: number,
    out: number,
    start: number,
    end: number,
    perSample: number,
    count: number,
    T: number,
  ): void;
  nearestForward(
    src: number,
    dst: number,
    start: number,
    end: number,
    Di: number,
    Hi: number,
    Wi: number,
    Do: number,
    Ho: number,
    Wo: number,
    invD: number,
    invH: number,
    invW: number,
  ): void;
  nearestBackward(
    g: number,
    dx: number,
    p0: number,
    p1: number,
    Di: number,
    Hi: number,
    Wi: number,
    Do: number,
    Ho: number,
    Wo: number,
    invD: number,
    invH: number,
    invW: number,
  ): void;
  attnForward(
    q: number,
    k: number,
    v: number,
    o: number,
    lse: number,
    Tq: number,
    Tk: number,
    d: number,
    dv: number,
    scale: number,
    bh: number,
    r0: number,
    r1: number,
    scratch: number,
  ): void;
  attnGradQ(
    q: number,
    k: number,
    v: number,
    o: number,
    lse: number,
    dout: number,
    dq: number,
    dd: number,
    Tq: number,
    Tk: number,
    d: number,
    dv: number,
    scale: number,
    bh: number,
    r0: number,
    r1: number,
  ): void;
  attnGradKV(
    q: number,
    k: number,
    v: number,
    lse: number,
    dout: number,
    dd: number,
    dk: number,
    dv: number,
    Tq: number,
    Tk: number,
    d: number,
    dvSize: number,
    scale: number,
    bh: number,
    r0: number,
    r1: number,
    scratch: number,
    dqPart: number,
  ): void;
  attnDelta(
    o: number,
    dout: number,
    dd: number,
    Tq: number,
    d: number,
    dv: number,
    bh: number,
    r0: number,
    r1: number,
    part: number,
    parts: number,
    partBytes: number,
  ): void;
  attnSumParts(
    dq: number,
    Tq: number,
    d: number,
    bh: number,
    r0: number,
    r1: number,
    part: number,
    parts: number,
    partBytes: number,
  ): void;
  padPlanes5(
    dst: number,
    src: number,
    p0: number,
    p1: number,
    O0: number,
    O1: number,
    O2: number,
    O3: number,
    O4: number,
    I0: number,
    I1: number,
    I2: number,
    I3: number,
    I4: number,
    B0: number,
    B1: number,
    B2: number,
    B3: number,
    B4: number,
    value: number,
  ): void;
  region32(
    x: number,
    out: number,
    start: number,
    end: number,
    offset: number,
    scatter: number,
    S0: number,
    S1: number,
    S2: number,
    S3: number,
    S4: number,
    S5: number,
    T0: number,
    T1: number,
    T2: number,
    T3: number,
    T4: number,
    T5: number,
  ): void;
  padPlane32(
    dst: number,
    src: number,
    Ho: number,
    Wo: number,
    Hi: number,
    Wi: number,
    bH: number,
    bW: number,
    value: number,
  ): void;
}

/** Map ops with a float32 SIMD loop of one input, by code (as/kernels.ts `U_*`). */
export const SIMD_UNARY: Partial<Record<MapOp, number>> = {
  copy: 0,
  neg: 1,
  exp: 2,
  sqrt: 3,
  abs: 4,
  square: 5,
  reciprocal: 6,
  relu: 7,
  silu: 8,
  sigmoid: 9,
  affine: 10,
  clamp: 11,
};

/** Map ops with a float32 SIMD loop of two inputs, by code (as/kernels.ts `B_*`). */
export const SIMD_BINARY: Partial<Record<MapOp, number>> = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  maximum: 4,
  minimum: 5,
  siluGrad: 6,
  reluGrad: 7,
  sigmoidGrad: 8,
  tanhGrad: 9,
};

/** Layouts of the second operand of `binaryF32`. */
export const LAYOUT_SAME = 0, LAYOUT_SCALAR = 1, LAYOUT_ROW = 2;

/** Instantiates kernels.wasm on the shared memory. */
export async function instantiateSimd(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
): Promise<SimdExports> {
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort: (_msg: number, _file: number, line: number, col: number) => {
        throw new Error(`kernels.wasm aborted at ${line}:${col}`);
      },
    },
  });
  return instance.exports as unknown as SimdExports;
}

/** Ops whose operands may swap (bit-identical in float32), so a broadcast first operand can take a SIMD loop. */
const COMMUTATIVE = new Set<MapOp>(["add", "mul", "maximum", "minimum"]);

/** How a float32 map op runs in kernels.wasm: operand order and the second operand's layout. */
export interface SimdMapPlan {
  binary: boolean;
  code: number;
  layout: number;
  /** Index of the contiguous operand (and, for binary ops, of the other one). */
  first: number;
  second: number;
}

/**
 * The SIMD plan of a float32 map op over collapsed `shape` with per-operand `strides` (output contiguous): one
 * contiguous input, or two where one is contiguous and the other contiguous, one scalar, or one scalar per
 * innermost row. Null when the op has no loop there (the JavaScript kernel runs it).
 */
export function simdMapPlan(op: MapOp, shape: number[], strides: number[][]): SimdMapPlan | null {
  const rank = shape.length;
  const dense = (s: number[]) => rank === 1 ? s[0] === 1 : rank === 2 && s[0] === shape[1] && s[1] === 1;
  if (strides.length === 1) {
    const code = SIMD_UNARY[op];
    return code !== undefined && dense(strides[0])
      ? { binary: false, code, layout: LAYOUT_SAME, first: 0, second: 0 }
      : null;
  }
  const code = SIMD_BINARY[op];
  if (strides.length !== 2 || code === undefined) return null;
  let [first, second] = [0, 1];
  if (!dense(strides[0]) && COMMUTATIVE.has(op)) [first, second] = [1, 0];
  if (!dense(strides[first])) return null;
  const sb = strides[second];
  const layout = dense(sb)
    ? LAYOUT_SAME
    : sb.every((v) => v === 0)
    ? LAYOUT_SCALAR
    : rank === 2 && sb[0] === 1 && sb[1] === 0
    ? LAYOUT_ROW
    : -1;
  // The silu gradient's loop takes two contiguous operands only.
  if (layout < 0 || (op === "siluGrad" && layout !== LAYOUT_SAME)) return null;
  return { binary: true, code, layout, first, second };
}
