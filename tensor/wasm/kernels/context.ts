/** What a kernel sees: the AssemblyScript exports of this thread's instances and typed views of the shared memory. */
import type { SimdExports } from "./simd.ts";

/** Exports of gemm.wasm (see as/gemm.ts). */
export interface GemmExports {
  packA(src: number, rs: number, cs: number, mc: number, kc: number, dst: number): void;
  packB(src: number, rs: number, cs: number, kc: number, nc: number, dst: number): void;
  packBConv(
    x: number,
    rowTab: number,
    tabD: number,
    tabH: number,
    tabW: number,
    cd: number,
    ch: number,
    cw: number,
    k0: number,
    kc: number,
    n0: number,
    nc: number,
    dst: number,
    colScratch: number,
  ): void;
  packBConvT(
    x: number,
    rowTab: number,
    tabD: number,
    tabH: number,
    tabW: number,
    cd: number,
    ch: number,
    cw: number,
    k0: number,
    kc: number,
    n0: number,
    nc: number,
    dst: number,
  ): void;
  col2imAdd(
    cb: number,
    ldc: number,
    r0: number,
    mc: number,
    n0: number,
    nc: number,
    rowTab: number,
    tabD: number,
    tabH: number,
    tabW: number,
    ch: number,
    cw: number,
    dst: number,
  ): void;
  convDirectRows(
    ap: number,
    R: number,
    offs: number,
    xs: number,
    planeF: number,
    Wp: number,
    Ho: number,
    row0: number,
    row1: number,
    rowsPer: number,
    n6: number,
    n4: number,
    panels: number,
    group: number,
    bias: number,
    mc: number,
    cb: number,
    y: number,
    chanStride: number,
    Wo: number,
  ): void;
  convWeightGradDirect(
    dy: number,
    dySample: number,
    Wq: number,
    xp: number,
    xSample: number,
    xPlane: number,
    Wp: number,
    offs: number,
    batch: number,
    Do: number,
    Ho: number,
    rb: number,
    co0: number,
    mc: number,
    r0: number,
    nc: number,
    R: number,
    part: number,
    dw: number,
    shift: boolean,
  ): void;
  padPlanes(
    src: number,
    dst: number,
    p0: number,
    p1: number,
    D: number,
    H: number,
    W: number,
    Dp: number,
    Hp: number,
    Wp: number,
    bd: number,
    bh: number,
    bw: number,
  ): void;
  padSmall(
    src: number,
    dst: number,
    p0: number,
    p1: number,
    D: number,
    H: number,
    W: number,
    Dp: number,
    Hp: number,
    Wp: number,
    bd: number,
    bh: number,
    bw: number,
  ): void;
  packARuns(
    src: number,
    rowStride: number,
    run: number,
    runStride: number,
    mc: number,
    k0: number,
    kc: number,
    dst: number,
  ): void;
  packBPadded(
    xp: number,
    offs: number,
    cols: number,
    k0: number,
    kc: number,
    n0: number,
    nc: number,
    dst: number,
  ): void;
  packBPaddedT(
    xp: number,
    offs: number,
    cols: number,
    k0: number,
    kc: number,
    n0: number,
    nc: number,
    dst: number,
  ): void;
  gemmBlock(
    ap: number,
    bp: number,
    mc: number,
    nc: number,
    kc: number,
    c: number,
    ldc: number,
    acc: number,
    tile: number,
  ): void;
}

/** Views over one shared memory; `refresh()` after the memory grew. */
export class KernelContext {
  f32!: Float32Array;
  i32!: Int32Array;
  u16!: Uint16Array;
  f16!: Float16Array;
  #bytes = -1;

  constructor(
    readonly memory: WebAssembly.Memory,
    readonly gemm: GemmExports,
    readonly thread: number,
    readonly simd: SimdExports,
  ) {
    this.refresh();
  }

  /** Re-creates the views if the memory grew since they were made. */
  refresh(): void {
    const buf = this.memory.buffer;
    if (buf.byteLength === this.#bytes) return;
    this.#bytes = buf.byteLength;
    this.f32 = new Float32Array(buf);
    this.i32 = new Int32Array(buf);
    this.u16 = new Uint16Array(buf);
    this.f16 = new Float16Array(buf);
  }
}

/** Instantiates gemm.wasm on the shared memory. */
export async function instantiateGemm(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
): Promise<GemmExports> {
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort: (_msg: number, _file: number, line: number, col: number) => {
        throw new Error(`gemm.wasm aborted at ${line}:${col}`);
      },
    },
  });
  return instance.exports as unknown as GemmExports;
}
