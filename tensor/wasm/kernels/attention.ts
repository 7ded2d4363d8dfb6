/**
 * Fused attention (no [T, T] matrix in memory): each query row streams every key through an online softmax;
 * backward recomputes probabilities from the saved log-sum-exp, dQ per query row, then dK/dV per key row.
 */
import type { KernelContext } from "./context.ts";

interface Geo {
  q: number;
  k: number;
  v: number;
  Tq: number;
  Tk: number;
  d: number;
  dv: number;
  scale: number;
}

function geo(a: ArrayLike<number>): Geo {
  return { q: a[0] / 4, k: a[1] / 4, v: a[2] / 4, Tq: a[3], Tk: a[4], d: a[5], dv: a[6], scale: a[7] };
}

/** Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, o, lse]. Chunk = `rows` query rows of one (b, h). */
export function attentionForwardKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, g = geo(a), rows = a[8], o = a[10] / 4, lse = a[11] / 4;
  const per = Math.ceil(g.Tq / rows), bh = Math.floor(c / per), r0 = (c % per) * rows;
  const acc = new Float64Array(g.dv);
  const kb = g.k + bh * g.Tk * g.d, vb = g.v + bh * g.Tk * g.dv;
  for (let i = r0; i < Math.min(g.Tq, r0 + rows); i++) {
    const qi = g.q + (bh * g.Tq + i) * g.d;
    let m = -Infinity, l = 0;
    acc.fill(0);
    for (let j = 0; j < g.Tk; j++) {
      let s = 0;
      const kj = kb + j * g.d;
      for (let t = 0; t < g.d; t++) s += x[qi + t] * x[kj + t];
      s *= g.scale;
      if (s > m) {
        const r = Math.exp(m - s);
        l *= r;
        for (let t = 0; t < g.dv; t++) acc[t] *= r;
        m = s;
      }
      const p = Math.exp(s - m);
      l += p;
      const vj = vb + j * g.dv;
      for (let t = 0; t < g.dv; t++) acc[t] += p * x[vj + t];
    }
    const oi = o + (bh * g.Tq + i) * g.dv;
    for (let t = 0; t < g.dv; t++) x[oi + t] = acc[t] / l;
    x[lse + bh * g.Tq + i] = m + Math.log(l);
  }
}

/** Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, o, lse, dout, dq, dd]. Chunk = query rows: dd and dq. */
export function attentionGradQKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, g = geo(a), rows = a[8], o = a[10] / 4, lse = a[11] / 4, dout = a[12] / 4;
  const dq = a[13] / 4, dd = a[14] / 4;
  const per = Math.ceil(g.Tq / rows), bh = Math.floor(c / per), r0 = (c % per) * rows;
  const kb = g.k + bh * g.Tk * g.d, vb = g.v + bh * g.Tk * g.dv;
  const acc = new Float64Array(g.d);
  for (let i = r0; i < Math.min(g.Tq, r0 + rows); i++) {
    const row = bh * g.Tq + i, qi = g.q + row * g.d, gi = dout + row * g.dv, oi = o + row * g.dv;
    let delta = 0;
    for (let t = 0; t < g.dv; t++) delta += x[gi + t] * x[oi + t];
    x[dd + row] = delta;
    const L = x[lse + row];
    acc.fill(0);
    for (let j = 0; j < g.Tk; j++) {
      const kj = kb + j * g.d, vj = vb + j * g.dv;
      let s = 0, dp = 0;
      for (let t = 0; t < g.d; t++) s += x[qi + t] * x[kj + t];
      for (let t = 0; t < g.dv; t++) dp += x[gi + t] * x[vj + t];
      const ds = Math.exp(s * g.scale - L) * (dp - delta);
      for (let t = 0; t < g.d; t++) acc[t] += ds * x[kj + t];
    }
    for (let t = 0; t < g.d; t++) x[dq + row * g.d + t] = acc[t] * g.scale;
  }
}

/** Args: [q, k, v, Tq, Tk, d, dv, scale, rows, BH, lse, dout, dd, dk, dv]. Chunk = key rows: dk and dv. */
export function attentionGradKVKernel(ctx: KernelContext, a: ArrayLike<number>, c: number): void {
  const x = ctx.f32, g = geo(a), rows = a[8], lse = a[10] / 4, dout = a[11] / 4, dd = a[12] / 4;
  const dk = a[13] / 4, dvOut = a[14] / 4;
  const per = Math.ceil(g.Tk / rows), bh = Math.floor(c / per), r0 = (c % per) * rows;
  const qb = g.q + bh * g.Tq * g.d, gb = dout + bh * g.Tq * g.dv;
  const accK = new Float64Array(g.d), accV = new Float64Array(g.dv);
  for (let j = r0; j < Math.min(g.Tk, r0 + rows); j++) {
    const kj = g.k + (bh * g.Tk + j) * g.d, vj = g.v + (bh * g.Tk + j) * g.dv;
    accK.fill(0);
    accV.fill(0);
    for (let i = 0; i < g.Tq; i++) {
      const qi = qb + i * g.d, gi = gb + i * g.dv, row = bh * g.Tq + i;
      let s = 0, dp = 0;
      for (let t = 0; t < g.d; t++) s += x[qi + t] * x[kj + t];
      for (let t = 0; t < g.dv; t++) dp += x[gi + t] * x[vj + t];
      const p = Math.exp(s * g.scale - x[lse + row]);
      const ds = p * (dp - x[dd + row]);
      for (let t = 0; t < g.d; t++) accK[t] += ds * x[qi + t];
      for (let t = 0; t < g.dv; t++) accV[t] += p * x[gi + t];
    }
    for (let t = 0; t < g.d; t++) x[dk + (bh * g.Tk + j) * g.d + t] = accK[t] * g.scale;
    for (let t = 0; t < g.dv; t++) x[dvOut + (bh * g.Tk + j) * g.dv + t] = accV[t];
  }
}
