/** The kernel table shared by the main thread and the workers: kernels are addressed by index in arguments. */
import type { KernelContext } from "./context.ts";
import { mapKernel, mapSimdKernel } from "./map.ts";
import { reduceKernel } from "./reduce.ts";
import { indexSelectKernel, padKernel, regionKernel } from "./movement.ts";
import { randomKernel } from "./random.ts";
import { noiseMixKernel, optimizerKernel, schedulerStepKernel } from "./fused.ts";
import {
  groupNormApplyKernel,
  groupNormCoefKernel,
  groupNormInputGradKernel,
  groupNormPartialKernel,
  groupNormStatsKernel,
} from "./norm.ts";
import { resampleKernel } from "./resample.ts";
import { poolKernel } from "./pool.ts";
import {
  attentionDeltaKernel,
  attentionForwardKernel,
  attentionGradKVKernel,
  attentionGradQKernel,
  attentionSumDqKernel,
} from "./attention.ts";
import {
  convDirectKernel,
  convInputGradScatterKernel,
  convKernel,
  convPackWeightsKernel,
  convPadKernel,
  convWeightGradDirectKernel,
  convWeightGradKernel,
  matmulKernel,
} from "./gemm.ts";
import { convSmallKernel, convSmallWeightGradKernel } from "./conv_small.ts";

// Made on first use: a page that is not cross-origin isolated has no SharedArrayBuffer, and must still load.
let pauseCell: Int32Array | null = null;
const pause = () => void Atomics.wait(pauseCell ??= new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);

/** A kernel runs one chunk of a parallel step. */
export type Kernel = (ctx: KernelContext, args: ArrayLike<number>, chunk: number) => void;

const TABLE = {
  map: mapKernel,
  mapSimd: mapSimdKernel,
  reduce: reduceKernel,
  region: regionKernel,
  pad: padKernel,
  indexSelect: indexSelectKernel,
  random: randomKernel,
  optimizer: optimizerKernel,
  schedulerStep: schedulerStepKernel,
  noiseMix: noiseMixKernel,
  groupNormStats: groupNormStatsKernel,
  groupNormApply: groupNormApplyKernel,
  groupNormPartial: groupNormPartialKernel,
  groupNormCoef: groupNormCoefKernel,
  groupNormInputGrad: groupNormInputGradKernel,
  resample: resampleKernel,
  pool: poolKernel,
  attentionForward: attentionForwardKernel,
  attentionGradQ: attentionGradQKernel,
  attentionGradKV: attentionGradKVKernel,
  attentionDelta: attentionDeltaKernel,
  attentionSumDq: attentionSumDqKernel,
  matmul: matmulKernel,
  conv: convKernel,
  convWeightGrad: convWeightGradKernel,
  convInputGradScatter: convInputGradScatterKernel,
  convDirect: convDirectKernel,
  convWeightGradDirect: convWeightGradDirectKernel,
  convPad: convPadKernel,
  convPackWeights: convPackWeightsKernel,
  convSmall: convSmallKernel,
  convSmallWeightGrad: convSmallWeightGradKernel,
  // Test hooks: fail on a worker (never on the main thread), by throwing or by dying.
  testThrow: (ctx: KernelContext) => {
    if (ctx.thread > 0) throw new Error(`test failure on thread ${ctx.thread}`);
    pause(); // leave chunks for the workers
  },
  testDie: () => pause(),
} satisfies Record<string, Kernel>;

/** Name of a kernel. */
export type KernelName = keyof typeof TABLE;

/** Kernel names in index order. */
export const KERNEL_NAMES: KernelName[] = Object.keys(TABLE) as KernelName[];
const KERNELS: Kernel[] = KERNEL_NAMES.map((n) => TABLE[n]);

/** Index of a kernel in arguments. */
export const KERNEL_ID: Record<KernelName, number> = Object.fromEntries(
  KERNEL_NAMES.map((n, i) => [n, i]),
) as Record<
  KernelName,
  number
>;

/** The kernel a worker handles by dying without checking out (pool tests). */
export const TEST_DIE: number = KERNEL_ID.testDie;

/** Runs chunk `chunk` of kernel `id`. */
export function runKernel(ctx: KernelContext, id: number, args: ArrayLike<number>, chunk: number): void {
  KERNELS[id](ctx, args, chunk);
}
