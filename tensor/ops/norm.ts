/** Group and instance normalisation over [B, C, ...spatial], statistics in one read of x. */
import { backend } from "../backend/mod.ts";
import { record } from "../autograd.ts";
import { empty, type Tensor } from "../tensor.ts";
import type { Shape } from "../shape.ts";
import type { GroupNormArgs } from "../backend/geometry.ts";

function checkAffine(op: string, x: Tensor, t: Tensor | null, name: string): void {
  if (t && (t.rank !== 1 || t.shape[0] !== x.shape[1] || t.dtype !== "float32")) {
    throw new Error(
      `${op}: ${name} must be float32 [${x.shape[1]}] for x [${x.shape}], got ${t.dtype} [${t.shape}]`,
    );
  }
}

function normCore(
  op: string,
  x: Tensor,
  G: number,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
): Tensor {
  if (x.rank < 2) throw new Error(`${op}: input must be [B, C, ...spatial], got [${x.shape}]`);
  if (x.dtype !== "float32") throw new Error(`${op}: needs float32, got ${x.dtype} [${x.shape}]`);
  checkAffine(op, x, weight, "weight");
  checkAffine(op, x, bias, "bias");
  const [B, C] = x.shape;
  if (!Number.isInteger(G) || G < 1 || C % G !== 0) {
    throw new Error(`${op}: ${C} channels cannot be split into ${G} groups (x [${x.shape}])`);
  }
  if (!(eps >= 0)) throw new Error(`${op}: eps must be >= 0, got ${eps}`);
  const a: GroupNormArgs = { B, C, S: x.size / (B * C), G, eps };
  // A missing weight or bias is the identity; the kernel takes both or neither.
  const affine = weight !== null || bias !== null;
  const gamma = affine ? (weight ?? fill([C], 1)) : null;
  const beta = affine ? (bias ?? fill([C], 0)) : null;
  // Our handles on the statistics and default affine terms; the backward keeps what it saves.
  using stats = empty([B * G, 2]);
  using _ownGamma = gamma !== weight ? gamma : null;
  using _ownBeta = beta !== bias ? beta : null;
  backend().groupNormStats(x.buffer(op), stats.buffer(), a);
  const y = empty(x.shape);
  backend().groupNormApply(
    x.buffer(op),
    stats.buffer(),
    gamma?.buffer(op) ?? null,
    beta?.buffer(op) ?? null,
    y.buffer(),
    a,
  );
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const saved = gamma ? [x, stats, gamma] : [x, stats];
  const out = record(y, op, inputs, saved, (g, [sx, ss, sg]) => {
    const dx = empty(x.shape);
    const dgamma = affine ? empty([C]) : null, dbeta = affine ? empty([C]) : null;
    backend().groupNormBackward({
      x: sx.buffer(),
      dy: g.buffer(),
      stats: ss.buffer(),
      gamma: sg?.buffer() ?? null,
      dx: dx.buffer(),
      dgamma: dgamma?.buffer() ?? null,
      dbeta: dbeta?.buffer() ?? null,
    }, a);
    return [dx, ...(weight ? [dgamma] : []), ...(bias ? [dbeta] : [])];
  });
  return out;
}

function fill(shape: number[], v: number): Tensor {
  const t = empty(shape);
  backend().upload(t.buffer(), new Float32Array(t.size).fill(v));
  return t;
}

/**
 * GroupNorm: x [B, C, ...spatial] normalised per (batch, group of C/numGroups channels), then scaled by
 * weight [C] and shifted by bias [C] (either may be null). Same shape out.
 */
export function groupNorm<S extends Shape>(
  x: Tensor<S>,
  numGroups: number,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor<S> {
  return normCore("groupNorm", x, numGroups, weight, bias, eps) as Tensor<S>;
}

/** InstanceNorm (no running stats): x [B, C, ...spatial] normalised per (batch, channel); optional affine. */
export function instanceNorm<S extends Shape>(
  x: Tensor<S>,
  eps = 1e-5,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
): Tensor<S> {
  if (x.rank < 2) throw new Error(`instanceNorm: input must be [B, C, ...spatial], got [${x.shape}]`);
  return normCore("instanceNorm", x, x.shape[1], weight, bias, eps) as Tensor<S>;
}
