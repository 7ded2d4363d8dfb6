/**
 * Scaled dot-product attention softmax(q·kᵀ·scale)·v over [B, heads, T, d], with gradients. Head sizes up to
 * 64 use fused kernels that never hold a [T, T] matrix (webgpu/attention.ts). Larger heads use a composed
 * path (matmul + softmax) over chunks of (batch, head) slices, so at most a bounded number of [T, T] score
 * matrices exist at once; its backward recomputes the probabilities chunk by chunk instead of keeping them.
 */
import { backend } from "../backend/mod.ts";
import { noGrad, record } from "../autograd.ts";
import { empty, scope, Tensor } from "../tensor.ts";
import type { AttentionArgs } from "../backend/geometry.ts";
import type { AsShape, Shape } from "../shape.ts";
import { mapRaw } from "./elementwise.ts";
import { matmulRaw } from "./matmul.ts";
import { max, sum } from "./reduce.ts";

/**
 * `fused`: use the fused kernels (no [T, T] matrix at all) for head sizes up to `fusedMaxHead`; otherwise the
 * composed path, which holds at most `scoreBytes` of score matrices at once (at least one slice).
 */
export const attentionLimits = { fused: true, fusedMaxHead: 64, scoreBytes: 64 << 20 };

/** Rows of x [n, T, T] → softmax(x · scale) along the last axis (max-shifted). */
function softmaxScaled(s: Tensor, scale: number): Tensor {
  // Blocks free each [n, T, T] temporary as soon as the next one exists: at most three live at once.
  let d: Tensor;
  {
    using z = mapRaw("affine", [s], "float32", [scale, 0]);
    using m = max(z, -1, true);
    d = mapRaw("sub", [z, m]);
  }
  let e: Tensor;
  {
    using _d = d;
    e = mapRaw("exp", [d]);
  }
  using _e = e;
  using t = sum(e, -1, true);
  return mapRaw("div", [e, t]);
}

/** Copies slices [c0, c1) of a contiguous [BH, T, d] tensor. */
function sliceRows(x: Tensor, c0: number, c1: number): Tensor {
  const [BH, T, d] = x.shape;
  if (c0 === 0 && c1 === BH) return x.detach();
  const y = empty([c1 - c0, T, d]);
  backend().strided("float32", x.buffer("attention"), y.buffer(), [c1 - c0, T, d], [T * d, d, 1], c0 * T * d);
  return y;
}

/** Writes chunk `part` [n, T, d] into `out` [BH, T, d] at slice c0. */
function writeRows(out: Tensor, part: Tensor, c0: number): void {
  const [, T, d] = out.shape;
  backend().scatterRegion("float32", part.buffer(), out.buffer(), [...part.shape], [T * d, d, 1], c0 * T * d);
}

function chunkSize(BH: number, T: number): number {
  return Math.max(1, Math.min(BH, Math.floor(attentionLimits.scoreBytes / (T * T * 4))));
}

/**
 * Attention: q [B, H, Tq, d], k [B, H, Tk, d], v [B, H, Tk, dv] → [B, H, Tq, dv] = softmax(q·kᵀ·scale)·v.
 */
export function attention<Q extends Shape, V extends Shape>(
  q: Tensor<Q>,
  k: Tensor,
  v: Tensor<V>,
  scale: number,
): Tensor<AsShape<AttentionShape<Q, V>>> {
  return attentionCore(q, k, v, scale) as Tensor<AsShape<AttentionShape<Q, V>>>;
}

/** [B, H, Tq, dv] from q [B, H, Tq, d] and v [B, H, Tk, dv] when both shapes are known at compile time. */
export type AttentionShape<Q extends Shape, V extends Shape> = Q extends
  readonly [infer B, infer H, infer T, number]
  ? V extends readonly [number, number, number, infer D] ? [B, H, T, D] : Shape
  : Shape;

function attentionCore(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
  const op = "attention";
  for (const [n, t] of [["q", q], ["k", k], ["v", v]] as const) {
    if (t.rank !== 4) throw new Error(`${op}: ${n} must be 4-D [B, heads, T, d], got [${t.shape}]`);
    if (t.dtype !== "float32") throw new Error(`${op}: ${n} must be float32, got ${t.dtype}`);
  }
  const [B, H, Tq, d] = q.shape, Tk = k.shape[2], dv = v.shape[3];
  if (
    k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== d || v.shape[0] !== B || v.shape[1] !== H ||
    v.shape[2] !== Tk
  ) {
    throw new Error(`${op}: shapes q [${q.shape}], k [${k.shape}], v [${v.shape}] do not match`);
  }
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale must be finite, got ${scale}`);
  const BH = B * H;
  if (attentionLimits.fused && d <= attentionLimits.fusedMaxHead && dv <= attentionLimits.fusedMaxHead) {
    return fusedAttention(q, k, v, { BH, Tq, Tk, d, dv, scale });
  }
  const chunk = chunkSize(BH, Math.max(Tq, Tk));
  // A new handle on the same storage with another shape (no autograd: the whole op is one node).
  const view = (t: Tensor, T: number, D: number): Tensor =>
    new Tensor([BH, T, D], "float32", t.storage.retain());
  using Q = view(q, Tq, d), K = view(k, Tk, d), V = view(v, Tk, dv);
  // One chunk: the whole output, or written into `whole`; a scope per chunk frees its scores before the next.
  using whole = chunk >= BH ? null : empty([BH, Tq, dv]);
  const chunkOutput = (c0: number) =>
    scope(() => {
      const c1 = Math.min(BH, c0 + chunk);
      const p = softmaxScaled(matmulRaw(sliceRows(Q, c0, c1), sliceRows(K, c0, c1), false, true), scale);
      const o = matmulRaw(p, sliceRows(V, c0, c1));
      if (!whole) return o;
      writeRows(whole, o, c0);
      return null;
    });
  using single = noGrad(() => {
    let last: Tensor | null = null;
    for (let c0 = 0; c0 < BH; c0 += chunk) last = chunkOutput(c0);
    return last;
  });
  const y4 = new Tensor([B, H, Tq, dv], "float32", (single ?? whole)!.storage.retain());
  return record(y4, op, [q, k, v], [q, k, v, y4], (g, [sq, sk, sv, so]) => {
    const Qs = view(sq, Tq, d),
      Ks = view(sk, Tk, d),
      Vs = view(sv, Tk, dv),
      Os = view(so, Tq, dv),
      G = view(g, Tq, dv);
    const dq = empty([B, H, Tq, d]), dk = empty([B, H, Tk, d]), dvv = empty([B, H, Tk, dv]);
    const DQ = view(dq, Tq, d), DK = view(dk, Tk, d), DV = view(dvv, Tk, dv);
    // rowsum(dP ⊙ P) = rowsum(dO ⊙ O): one [T, dv] pass instead of a [T, T] one.
    const delta = sum(mapRaw("mul", [G, Os]), -1, true);
    // One scope per chunk: a chunk's [n, T, T] scores are freed before the next chunk's are made.
    for (let c0 = 0; c0 < BH; c0 += chunk) {
      scope(() => {
        const c1 = Math.min(BH, c0 + chunk);
        const qc = sliceRows(Qs, c0, c1), kc = sliceRows(Ks, c0, c1), vc = sliceRows(Vs, c0, c1);
        const gc = sliceRows(G, c0, c1), dc = sliceRows(delta, c0, c1);
        const p = softmaxScaled(matmulRaw(qc, kc, false, true), scale);
        const dvc = matmulRaw(p, gc, true, false);
        const t = mapRaw("sub", [matmulRaw(gc, vc, false, true), dc]);
        const ds = mapRaw("affine", [mapRaw("mul", [p, t])], "float32", [scale, 0]);
        const dqc = matmulRaw(ds, kc);
        const dkc = matmulRaw(ds, qc, true, false);
        for (const [dst, part] of [[DQ, dqc], [DK, dkc], [DV, dvc]] as const) {
          if (c0 === 0 && c1 === BH) {
            backend().strided("float32", part.buffer(), dst.buffer(), [part.size], [1], 0);
          } else writeRows(dst, part, c0);
        }
      });
    }
    return [dq, dk, dvv];
  });
}

function fusedAttention(q: Tensor, k: Tensor, v: Tensor, a: AttentionArgs): Tensor {
  const [B, H, Tq] = q.shape;
  const y = empty([B, H, Tq, a.dv]);
  using lse = empty([a.BH, Tq]);
  backend().attentionForward(
    q.buffer("attention"),
    k.buffer("attention"),
    v.buffer("attention"),
    y.buffer(),
    lse.buffer(),
    a,
  );
  const out = record(y, "attention", [q, k, v], [q, k, v, y, lse], (g, [sq, sk, sv, so, sl]) => {
    const dq = empty(q.shape), dk = empty(k.shape), dvv = empty(v.shape), dd = empty([a.BH, Tq]);
    backend().attentionBackward({
      q: sq.buffer(),
      k: sk.buffer(),
      v: sv.buffer(),
      o: so.buffer(),
      lse: sl.buffer(),
      dout: g.buffer(),
      dq: dq.buffer(),
      dk: dk.buffer(),
      dv: dvv.buffer(),
      dd: dd.buffer(),
    }, a);
    return [dq, dk, dvv];
  });
  return out;
}
