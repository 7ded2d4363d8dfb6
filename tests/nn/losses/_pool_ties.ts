/**
 * Max-pool near-ties in the LPIPS trunk, for gradient parity tests.
 *
 * A max-pool window routes its whole gradient to one element. When the window's two largest inputs differ by less
 * than float32 rounding, which one wins depends on the summation order of the convolutions before it, so PyTorch
 * and we may pick different elements: the forward values agree to the last bit, but the input gradient of that
 * slice moves. (Variant-b's perceptual_loss has one: slice 15 along axis 2, third pool, channel 127, two values
 * 7e-8 apart.) Such a window is not a divergence; the test accepts the reference if flipping near-ties, and only
 * those, reproduces it.
 */
import { add, indexSelect, noGrad, scope, type Tensor, tensor } from "../../../tensor/mod.ts";
import { MaxPool2d, type PerceptualLoss, type SliceIndices } from "../../../nn/mod.ts";
import { batchifyAxis } from "../../../nn/losses/perceptual.ts";
import { poolOutputSize } from "../../../tensor/ops/pool.ts";

/**
 * Relative gap under which two window values count as tied: 2⁻¹⁹ (16 float32 ulps). Our LPIPS features agree with
 * the reference to ~1e-6 relative (lpips2d features), so values closer than that may order either way.
 */
export const NEAR_TIE_GAP = 2 ** -19;

/** One near-tie: pool `pool` (0, 1, 2 in trunk order) during the LPIPS call of axis position `call`. */
export interface NearTie {
  call: number;
  pool: number;
  /** Index into the input-side half of the pool's batch (the selected input slices). */
  batch: number;
  channel: number;
  /** Flat H·W offsets of the element we pick (first maximum) and of its runner-up. */
  winner: number;
  runnerUp: number;
  winnerValue: number;
  runnerUpValue: number;
}

function trunkPools(p: PerceptualLoss): MaxPool2d[] {
  return p.perceptualFunction.net.slices.flatMap((s) =>
    s.layers.filter((l) => l instanceof MaxPool2d)
  ) as MaxPool2d[];
}

/** Near-ties of positive maxima on the input side (the target side carries no gradient), per axis call. */
export async function findNearTies(
  p: PerceptualLoss,
  input: Tensor,
  indices: SliceIndices,
  gap = NEAR_TIE_GAP,
): Promise<NearTie[]> {
  const pools = trunkPools(p);
  const ties: NearTie[] = [];
  for (const [call, axis] of [2, 3, 4].entries()) {
    let h = noGrad(() =>
      p.perceptualFunction.scalingLayer.forward(
        indexSelect(batchifyAxis(input, axis), 0, Array.from(indices[call])),
      )
    );
    for (const slice of p.perceptualFunction.net.slices) {
      for (const layer of slice.layers) {
        const pool = pools.indexOf(layer as MaxPool2d);
        if (pool >= 0) {
          ties.push(
            ...windowTies(await h.data() as Float32Array, h.shape, layer as MaxPool2d, gap, call, pool),
          );
        }
        const next = noGrad(() => layer.forward(h));
        h.dispose();
        h = next;
      }
    }
    h.dispose();
  }
  return ties;
}

function windowTies(
  d: Float32Array,
  shape: readonly number[],
  pool: MaxPool2d,
  gap: number,
  call: number,
  poolIndex: number,
): NearTie[] {
  const [B, C, H, W] = shape, k = pool.kernelSize, s = pool.stride, p = pool.padding;
  const oh = poolOutputSize(H, k, s, p, pool.ceilMode), ow = poolOutputSize(W, k, s, p, pool.ceilMode);
  const out: NearTie[] = [];
  for (let bc = 0; bc < B * C; bc++) {
    for (let a = 0; a < oh; a++) {
      for (let b = 0; b < ow; b++) {
        let w = -1, r = -1;
        for (let i = Math.max(a * s - p, 0); i < Math.min(a * s - p + k, H); i++) {
          for (let j = Math.max(b * s - p, 0); j < Math.min(b * s - p + k, W); j++) {
            const at = i * W + j, v = d[bc * H * W + at];
            if (w < 0 || v > d[bc * H * W + w]) {
              r = w;
              w = at;
            } else if (r < 0 || v > d[bc * H * W + r]) r = at;
          }
        }
        const wv = d[bc * H * W + w], rv = d[bc * H * W + r];
        if (r >= 0 && wv > 0 && wv - rv <= gap * wv) {
          out.push({
            call,
            pool: poolIndex,
            batch: Math.floor(bc / C),
            channel: bc % C,
            winner: w,
            runnerUp: r,
            winnerValue: wv,
            runnerUpValue: rv,
          });
        }
      }
    }
  }
  return out;
}

/**
 * Runs `fn` with the given near-ties flipped: each runner-up is raised just above its winner (8 ulps) in the
 * pool's input, so the pool routes the gradient there; forward values move by those few ulps only.
 */
export function withFlippedTies<T>(p: PerceptualLoss, flips: NearTie[], fn: () => T): T {
  const pools = trunkPools(p);
  const calls = pools.map(() => 0);
  pools.forEach((pool, i) => {
    const original = pool.forward.bind(pool);
    pool.forward = (x: Tensor) => {
      const call = calls[i]++;
      const mine = flips.filter((t) => t.pool === i && t.call === call);
      if (mine.length === 0) return original(x);
      return scope(() => {
        const [, C, H, W] = x.shape, bump = new Float32Array(x.size);
        for (const t of mine) {
          const lift = t.winnerValue - t.runnerUpValue + 8 * 2 ** -23 * t.winnerValue;
          bump[(t.batch * C + t.channel) * H * W + t.runnerUp] += lift;
        }
        return original(add(x, tensor(bump, [...x.shape])) as Tensor);
      });
    };
  });
  try {
    return fn();
  } finally {
    for (const pool of pools) delete (pool as { forward?: unknown }).forward;
  }
}
