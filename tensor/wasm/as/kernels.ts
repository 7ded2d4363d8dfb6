// AssemblyScript: the WASM backend's SIMD128 loops outside the GEMM core (contiguous float32 elementwise ops,
// group norm, the optimizer updates, constant pad). Compiled by `deno task build:wasm` into ../kernels.wasm;
// never imported by TypeScript. The JavaScript kernels (../kernels/*.ts) call these per chunk and keep every
// other case (strides, broadcasting, float16, int32). Pointers are byte addresses, counts are elements. Every loop
// runs its tail (n % 4 elements) through the same vector code one lane at a time, so a tail element gets exactly
// what it would get in the body.

// ---- exp (Cephes expf: range reduction by ln 2, degree-6 polynomial, ~1 ulp) -------------------------------

// The constants, each splatted to 4 lanes, in a data segment at --memoryBase (inside the first MiB, which the
// allocator leaves to the modules). Loops load them once before they start: V8 rematerialises a v128.const at
// every use inside a loop (~4 instructions each), which made exp 3x slower.
const EXP_K = memory.data<f32>([
  89.0, 89.0, 89.0, 89.0, // above: overflow to infinity
  -104.0, -104.0, -104.0, -104.0, // below: underflow to 0
  1.44269504088896341, 1.44269504088896341, 1.44269504088896341, 1.44269504088896341, // log2(e)
  0.5, 0.5, 0.5, 0.5,
  0.693359375, 0.693359375, 0.693359375, 0.693359375, // ln 2, high part
  -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, // ln 2, low part
  1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4,
  1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3,
  8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3,
  4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2,
  1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1,
  5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1,
  1.0, 1.0, 1.0, 1.0,
  8388735.0, 8388735.0, 8388735.0, 8388735.0, // 2^23 + 127
], 16);

/** Constant i of EXP_K. */
@inline function k(i: i32): v128 {
  return v128.load(EXP_K + (<usize> i << 4));
}

// exp over 4 lanes. Below -104 exp rounds to 0 in float32, above 89 to infinity; the scale 2^n is applied in two
// halves so both ends under- and overflow gradually, as the exact value would. pmin/pmax are single instructions
// (min/max carry NaN rules that cost several); a NaN still passes through.
@inline function expv(x: v128, hi: v128, lo: v128, log2e: v128, half: v128, ln2hi: v128, ln2lo: v128, p0: v128,
  p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128, magic: v128): v128 {
  x = f32x4.pmax(f32x4.pmin(x, hi), lo);
  const fx = f32x4.floor(f32x4.add(f32x4.mul(x, log2e), half));
  let r = f32x4.sub(x, f32x4.mul(fx, ln2hi));
  r = f32x4.sub(r, f32x4.mul(fx, ln2lo));
  const z = f32x4.mul(r, r);
  let y = f32x4.add(f32x4.mul(p0, r), p1);
  y = f32x4.add(f32x4.mul(y, r), p2);
  y = f32x4.add(f32x4.mul(y, r), p3);
  y = f32x4.add(f32x4.mul(y, r), p4);
  y = f32x4.add(f32x4.mul(y, r), p5);
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), r), one);
  // 2^fx = 2^h1 · 2^h2 (h1 = floor(fx / 2), both in [-75, 65]); 2^h is (h + 127) << 23, read off the bits of
  // h + 2^23 + 127 (an exact float whose low mantissa bits are h + 127).
  const h1 = f32x4.floor(f32x4.mul(fx, half));
  const h2 = f32x4.sub(fx, h1);
  const s1 = i32x4.shl(f32x4.add(h1, magic), 23);
  const s2 = i32x4.shl(f32x4.add(h2, magic), 23);
  return f32x4.mul(f32x4.mul(y, s1), s2);
}

// ---- elementwise -------------------------------------------------------------------------------------------

// Unary op codes (the JavaScript side maps map-op names onto them).
const U_COPY = 0, U_NEG = 1, U_EXP = 2, U_SQRT = 3, U_ABS = 4, U_SQUARE = 5, U_RECIPROCAL = 6, U_RELU = 7,
  U_SILU = 8, U_SIGMOID = 9, U_AFFINE = 10, U_CLAMP = 11;

@inline function unary(op: i32, a: v128, s0: v128, s1: v128): v128 {
  switch (op) {
    case U_NEG: return f32x4.neg(a);
    case U_SQRT: return f32x4.sqrt(a);
    case U_ABS: return f32x4.abs(a);
    case U_SQUARE: return f32x4.mul(a, a);
    case U_RECIPROCAL: return f32x4.div(f32x4.splat(1.0), a);
    case U_RELU: return f32x4.max(a, f32x4.splat(0.0));
    case U_AFFINE: return f32x4.add(f32x4.mul(a, s0), s1);
    default: return f32x4.min(f32x4.max(a, s0), s1); // U_CLAMP
  }
}

@inline function unaryLoop(op: i32, out: usize, a: usize, n: i32, s0: f32, s1: f32): void {
  const v0 = f32x4.splat(s0), v1 = f32x4.splat(s1);
  const body = n & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize> i << 2;
    v128.store(out + o, unary(op, v128.load(a + o), v0, v1));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    store<f32>(out + o, f32x4.extract_lane(unary(op, f32x4.splat(load<f32>(a + o)), v0, v1), 0));
  }
}

// The exp family: 0 exp, 1 silu a/(1 + exp(−a)), 2 sigmoid 1/(1 + exp(−a)), 3 silu gradient b·s·(1 + a·(1 − s)).
@inline function expFamily(kind: i32, a: v128, b: v128, hi: v128, lo: v128, log2e: v128, half: v128, ln2hi: v128,
  ln2lo: v128, p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128, magic: v128): v128 {
  if (kind === 0) return expv(a, hi, lo, log2e, half, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one, magic);
  const e = expv(f32x4.neg(a), hi, lo, log2e, half, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one, magic);
  const den = f32x4.add(one, e);
  if (kind === 1) return f32x4.div(a, den);
  const s = f32x4.div(one, den);
  if (kind === 2) return s;
  return f32x4.mul(f32x4.mul(b, s), f32x4.add(one, f32x4.mul(a, f32x4.sub(one, s))));
}

@inline function expLoop(kind: i32, out: usize, a: usize, b: usize, n: i32): void {
  const hi = k(0), lo = k(1), log2e = k(2), half = k(3), ln2hi = k(4), ln2lo = k(5), p0 = k(6), p1 = k(7);
  const p2 = k(8), p3 = k(9), p4 = k(10), p5 = k(11), one = k(12), magic = k(13);
  const body = n & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize> i << 2;
    const bv = kind === 3 ? v128.load(b + o) : one;
    const r = expFamily(kind, v128.load(a + o), bv, hi, lo, log2e, half, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one,
      magic);
    v128.store(out + o, r);
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    const bv = kind === 3 ? f32x4.splat(load<f32>(b + o)) : one;
    const r = expFamily(kind, f32x4.splat(load<f32>(a + o)), bv, hi, lo, log2e, half, ln2hi, ln2lo, p0, p1, p2, p3,
      p4, p5, one, magic);
    store<f32>(out + o, f32x4.extract_lane(r, 0));
  }
}

/** out[i] = op(a[i]) for i < n (float32, contiguous); s0, s1: the op's scalars (affine, clamp). */
export function unaryF32(op: i32, out: usize, a: usize, n: i32, s0: f32, s1: f32): void {
  // One loop per op: the switches in `unary` and `expFamily` fold away in each.
  switch (op) {
    case U_COPY: memory.copy(out, a, <usize> n << 2); break;
    case U_EXP: expLoop(0, out, a, 0, n); break;
    case U_SILU: expLoop(1, out, a, 0, n); break;
    case U_SIGMOID: expLoop(2, out, a, 0, n); break;
    case U_NEG: unaryLoop(U_NEG, out, a, n, s0, s1); break;
    case U_SQRT: unaryLoop(U_SQRT, out, a, n, s0, s1); break;
    case U_ABS: unaryLoop(U_ABS, out, a, n, s0, s1); break;
    case U_SQUARE: unaryLoop(U_SQUARE, out, a, n, s0, s1); break;
    case U_RECIPROCAL: unaryLoop(U_RECIPROCAL, out, a, n, s0, s1); break;
    case U_RELU: unaryLoop(U_RELU, out, a, n, s0, s1); break;
    case U_AFFINE: unaryLoop(U_AFFINE, out, a, n, s0, s1); break;
    default: unaryLoop(U_CLAMP, out, a, n, s0, s1);
  }
}

// Binary op codes.
const B_ADD = 0, B_SUB = 1, B_MUL = 2, B_DIV = 3, B_MAX = 4, B_MIN = 5, B_SILU_GRAD = 6, B_RELU_GRAD = 7,
  B_SIGMOID_GRAD = 8, B_TANH_GRAD = 9;

@inline function binary(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case B_ADD: return f32x4.add(a, b);
    case B_SUB: return f32x4.sub(a, b);
    case B_MUL: return f32x4.mul(a, b);
    case B_DIV: return f32x4.div(a, b);
    case B_MAX: return f32x4.max(a, b);
    case B_MIN: return f32x4.min(a, b);
    case B_RELU_GRAD: return v128.and(b, f32x4.gt(a, f32x4.splat(0.0)));
    case B_SIGMOID_GRAD: return f32x4.mul(f32x4.mul(b, a), f32x4.sub(f32x4.splat(1.0), a));
    default: return f32x4.mul(b, f32x4.sub(f32x4.splat(1.0), f32x4.mul(a, a))); // B_TANH_GRAD
  }
}

// Layouts of the second operand: the same shape, one scalar for all, or one scalar per row of `inner` elements.
const L_SAME = 0, L_SCALAR = 1, L_ROW = 2;

@inline function binaryLoop(op: i32, out: usize, a: usize, b: usize, n: i32): void {
  const body = n & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize> i << 2;
    v128.store(out + o, binary(op, v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    const r = binary(op, f32x4.splat(load<f32>(a + o)), f32x4.splat(load<f32>(b + o)));
    store<f32>(out + o, f32x4.extract_lane(r, 0));
  }
}

/** out[i] = op(a[i], bs) for i < n: the second operand one value. */
@inline function binaryScalarLoop(op: i32, out: usize, a: usize, bs: f32, n: i32): void {
  const bv = f32x4.splat(bs);
  const body = n & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize> i << 2;
    v128.store(out + o, binary(op, v128.load(a + o), bv));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    store<f32>(out + o, f32x4.extract_lane(binary(op, f32x4.splat(load<f32>(a + o)), bv), 0));
  }
}

@inline function binaryLayout(op: i32, layout: i32, out: usize, a: usize, b: usize, n: i32, inner: i32, i0: i32): void {
  if (layout === L_SAME) binaryLoop(op, out, a, b, n);
  else if (layout === L_SCALAR) binaryScalarLoop(op, out, a, load<f32>(b), n);
  else {
    // Element i (of this call) is element i0 + i of the whole op; row = (i0 + i) / inner.
    let i = 0;
    while (i < n) {
      const row = (i0 + i) / inner;
      const run = min(n - i, (row + 1) * inner - (i0 + i));
      const o = <usize> i << 2;
      binaryScalarLoop(op, out + o, a + o, load<f32>(b + (<usize> row << 2)), run);
      i += run;
    }
  }
}

/**
 * out[i] = op(a[i], b…) for i < n (float32, a and out contiguous). layout: 0 b contiguous, 1 b one scalar,
 * 2 b one scalar per row of `inner` elements, this call starting at element i0 of the op (b points at row 0).
 */
export function binaryF32(op: i32, layout: i32, out: usize, a: usize, b: usize, n: i32, inner: i32, i0: i32): void {
  if (op === B_SILU_GRAD) {
    expLoop(3, out, a, b, n); // layout 0 only (the JavaScript side checks)
    return;
  }
  switch (op) {
    case B_ADD: binaryLayout(B_ADD, layout, out, a, b, n, inner, i0); break;
    case B_SUB: binaryLayout(B_SUB, layout, out, a, b, n, inner, i0); break;
    case B_MUL: binaryLayout(B_MUL, layout, out, a, b, n, inner, i0); break;
    case B_DIV: binaryLayout(B_DIV, layout, out, a, b, n, inner, i0); break;
    case B_MAX: binaryLayout(B_MAX, layout, out, a, b, n, inner, i0); break;
    case B_MIN: binaryLayout(B_MIN, layout, out, a, b, n, inner, i0); break;
    case B_RELU_GRAD: binaryLayout(B_RELU_GRAD, layout, out, a, b, n, inner, i0); break;
    case B_SIGMOID_GRAD: binaryLayout(B_SIGMOID_GRAD, layout, out, a, b, n, inner, i0); break;
    default: binaryLayout(B_TANH_GRAD, layout, out, a, b, n, inner, i0);
  }
}

// ---- group norm ----------------------------------------------------------------------------------------------

/**
 * Statistics of one group row of L values: mean and 1/sqrt(var + eps), sums in double around the first value
 * (so a large offset does not cancel), written as two float32 at `stats`.
 */
export function gnRowStats(x: usize, L: i32, stats: usize, eps: f32): void {
  const shift = load<f32>(x);
  const sv = f64x2.splat(<f64> shift);
  let a1 = f64x2.splat(0), a2 = f64x2.splat(0), b1 = f64x2.splat(0), b2 = f64x2.splat(0);
  const body = L & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const v = v128.load(x + (<usize> i << 2));
    const lo = f64x2.sub(f64x2.promote_low_f32x4(v), sv);
    const hi = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)), sv);
    a1 = f64x2.add(a1, lo);
    a2 = f64x2.add(a2, f64x2.mul(lo, lo));
    b1 = f64x2.add(b1, hi);
    b2 = f64x2.add(b2, f64x2.mul(hi, hi));
  }
  a1 = f64x2.add(a1, b1);
  a2 = f64x2.add(a2, b2);
  let s1 = f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1);
  let s2 = f64x2.extract_lane(a2, 0) + f64x2.extract_lane(a2, 1);
  for (; i < L; i++) {
    const d = <f64> load<f32>(x + (<usize> i << 2)) - <f64> shift;
    s1 += d;
    s2 += d * d;
  }
  const mean = s1 / L;
  const variance = max(s2 / L - mean * mean, 0.0);
  store<f32>(stats, <f32> (<f64> shift + mean));
  store<f32>(stats, <f32> (1.0 / Math.sqrt(<f64> (<f32> variance + eps))), 4);
}

/** y = x·scale + shift over S values. */
export function gnApply(x: usize, y: usize, S: i32, scale: f32, shift: f32): void {
  unaryLoop(U_AFFINE, y, x, S, scale, shift);
}

/** Over one plane of S values: Σ dy and rstd·Σ dy·(x − mean) (double sums), two float32 at `part`. */
export function gnPartial(x: usize, dy: usize, S: i32, mean: f32, rstd: f32, part: usize): void {
  const mv = f64x2.splat(<f64> mean);
  let a1 = f64x2.splat(0), a2 = f64x2.splat(0), b1 = f64x2.splat(0), b2 = f64x2.splat(0);
  const body = S & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize> i << 2;
    const xv = v128.load(x + o), gv = v128.load(dy + o);
    const glo = f64x2.promote_low_f32x4(gv), ghi = f64x2.promote_low_f32x4(i32x4.shuffle(gv, gv, 2, 3, 0, 1));
    const xlo = f64x2.sub(f64x2.promote_low_f32x4(xv), mv);
    const xhi = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(xv, xv, 2, 3, 0, 1)), mv);
    a1 = f64x2.add(a1, glo);
    b1 = f64x2.add(b1, ghi);
    a2 = f64x2.add(a2, f64x2.mul(glo, xlo));
    b2 = f64x2.add(b2, f64x2.mul(ghi, xhi));
  }
  a1 = f64x2.add(a1, b1);
  a2 = f64x2.add(a2, b2);
  let s1 = f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1);
  let s2 = f64x2.extract_lane(a2, 0) + f64x2.extract_lane(a2, 1);
  for (; i < S; i++) {
    const o = <usize> i << 2;
    const g = <f64> load<f32>(dy + o);
    s1 += g;
    s2 += g * (<f64> load<f32>(x + o) - <f64> mean);
  }
  store<f32>(part, <f32> s1);
  store<f32>(part, <f32> (s2 * <f64> rstd), 4);
}

/** dx = dy·p + x·q + r over S values. */
export function gnInputGrad(x: usize, dy: usize, dx: usize, S: i32, p: f32, q: f32, r: f32): void {
  const pv = f32x4.splat(p), qv = f32x4.splat(q), rv = f32x4.splat(r);
  const body = S & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize> i << 2;
    const v = f32x4.add(f32x4.add(f32x4.mul(v128.load(dy + o), pv), f32x4.mul(v128.load(x + o), qv)), rv);
    v128.store(dx + o, v);
  }
  for (; i < S; i++) {
    const o = <usize> i << 2;
    store<f32>(dx + o, load<f32>(dy + o) * p + load<f32>(x + o) * q + r);
  }
}

// ---- optimizer updates (float32 operation order of PyTorch's, so the results are bit-identical) -----------------
// Each float32 operation rounds once, in a vector lane as in a scalar, so the scalar tails match the vector body.

/** Adam / AdamW over n values of p, g, m, v (see kernels/fused.ts for the scalars). */
export function adamF32(
  p: usize, g: usize, m: usize, v: usize, n: i32,
  b1: f32, b2: f32, eps: f32, wd: f32, stepSize: f32, bc2: f32, decoupled: i32, omb1: f32, omb2: f32, decay: f32,
): void {
  const b1v = f32x4.splat(b1), b2v = f32x4.splat(b2), epsv = f32x4.splat(eps), wdv = f32x4.splat(wd);
  const nsv = f32x4.splat(-stepSize), bc2v = f32x4.splat(bc2), o1 = f32x4.splat(omb1), o2 = f32x4.splat(omb2);
  const dv = f32x4.splat(decay), dec = decoupled === 1, hasWd = wd != 0;
  const body = n & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize> i << 2;
    let param = v128.load(p + o), grad = v128.load(g + o);
    if (hasWd) {
      if (dec) param = f32x4.mul(param, dv);
      else grad = f32x4.add(grad, f32x4.mul(wdv, param));
    }
    const mi = f32x4.add(f32x4.mul(v128.load(m + o), b1v), f32x4.mul(o1, grad));
    const vi = f32x4.add(f32x4.mul(v128.load(v + o), b2v), f32x4.mul(f32x4.mul(o2, grad), grad));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), bc2v), epsv);
    v128.store(p + o, f32x4.add(param, f32x4.div(f32x4.mul(nsv, mi), denom)));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    let param = load<f32>(p + o), grad = load<f32>(g + o);
    if (hasWd) {
      if (dec) param = param * decay;
      else grad = grad + wd * param;
    }
    const mi = load<f32>(m + o) * b1 + omb1 * grad;
    const vi = load<f32>(v + o) * b2 + (omb2 * grad) * grad;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const denom = Mathf.sqrt(vi) / bc2 + eps;
    store<f32>(p + o, param + ((-stepSize) * mi) / denom);
  }
}

/**
 * SGD over n values: d = g + wd·p; with state (momentum buffer m): m = first ? d : m·mom + damp·d, d = nesterov ?
 * d + mom·m : m; then p = p + (−lr)·d. Without state and with wd = −1, lr = −(1 − decay) it is the EMA update.
 */
export function sgdF32(
  p: usize, g: usize, m: usize, n: i32,
  lr: f32, wd: f32, mom: f32, damp: f32, first: i32, nesterov: i32, hasState: i32,
): void {
  const nlr = f32x4.splat(-lr), wdv = f32x4.splat(wd), mv = f32x4.splat(mom), dv = f32x4.splat(damp);
  const hasWd = wd != 0, state = hasState === 1, isFirst = first === 1, nest = nesterov === 1;
  const body = n & ~3;
  let i = 0;
  for (; i < body; i += 4) {
    const o = <usize> i << 2;
    const param = v128.load(p + o);
    let d = v128.load(g + o);
    if (hasWd) d = f32x4.add(d, f32x4.mul(wdv, param));
    if (state) {
      const b = isFirst ? d : f32x4.add(f32x4.mul(v128.load(m + o), mv), f32x4.mul(dv, d));
      v128.store(m + o, b);
      d = nest ? f32x4.add(d, f32x4.mul(mv, b)) : b;
    }
    v128.store(p + o, f32x4.add(param, f32x4.mul(nlr, d)));
  }
  for (; i < n; i++) {
    const o = <usize> i << 2;
    const param = load<f32>(p + o);
    let d = load<f32>(g + o);
    if (hasWd) d = d + wd * param;
    if (state) {
      const b = isFirst ? d : load<f32>(m + o) * mom + damp * d;
      store<f32>(m + o, b);
      d = nest ? d + mom * b : b;
    }
    store<f32>(p + o, param + (-lr) * d);
  }
}

// ---- constant pad ----------------------------------------------------------------------------------------------

@inline function fill32(dst: usize, n: i32, value: i32): void {
  const v = i32x4.splat(value);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize> i << 2), v);
  for (; i < n; i++) store<i32>(dst + (<usize> i << 2), value);
}

@inline function copy32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize> i << 2), v128.load(src + (<usize> i << 2)));
  for (; i < n; i++) store<i32>(dst + (<usize> i << 2), load<i32>(src + (<usize> i << 2)));
}

/**
 * Elements [start, end) of a strided 4-byte move (offsets in elements), shape S / strides T lifted to rank 6:
 * gather (scatter 0) out[i] = x[offset + Σ coord_d·T_d] with coord the index of i in S; scatter (1) writes
 * out[that] = x[i]. Runs along the last dim; a carry steps the outer indices.
 */
export function region32(
  x: usize, out: usize, start: i32, end: i32, offset: i32, scatter: i32,
  S0: i32, S1: i32, S2: i32, S3: i32, S4: i32, S5: i32, T0: i32, T1: i32, T2: i32, T3: i32, T4: i32, T5: i32,
): void {
  let r = start;
  let i5 = r % S5;
  r /= S5;
  let i4 = r % S4;
  r /= S4;
  let i3 = r % S3;
  r /= S3;
  let i2 = r % S2;
  r /= S2;
  let i1 = r % S1;
  const i0 = r / S1;
  let p = offset + i0 * T0 + i1 * T1 + i2 * T2 + i3 * T3 + i4 * T4 + i5 * T5;
  let i = start;
  while (i < end) {
    const run = min(S5 - i5, end - i);
    if (scatter) {
      for (let j = 0; j < run; j++, i++, p += T5) store<i32>(out + (<usize> p << 2), load<i32>(x + (<usize> i << 2)));
    } else if (T5 === 1) {
      copy32(out + (<usize> i << 2), x + (<usize> p << 2), run);
      i += run;
      p += run;
    } else {
      for (let j = 0; j < run; j++, i++, p += T5) store<i32>(out + (<usize> i << 2), load<i32>(x + (<usize> p << 2)));
    }
    i5 += run;
    if (i5 < S5) continue;
    i5 = 0;
    p += T4 - T5 * S5;
    if (++i4 < S4) continue;
    i4 = 0;
    p += T3 - T4 * S4;
    if (++i3 < S3) continue;
    i3 = 0;
    p += T2 - T3 * S3;
    if (++i2 < S2) continue;
    i2 = 0;
    p += T1 - T2 * S2;
    if (++i1 < S1) continue;
    i1 = 0;
    p += T0 - T1 * S1;
  }
}

/**
 * One padded plane of 4-byte values: dst is Ho×Wo, src (Hi×Wi, or 0 when the whole plane lies in the padding)
 * lands at row bH, column bW (negative = cropped); everything else gets `value` (raw bits).
 */
export function padPlane32(dst: usize, src: usize, Ho: i32, Wo: i32, Hi: i32, Wi: i32, bH: i32, bW: i32, value: i32): void {
  const c0 = max(0, -bW), c1 = min(Wi, Wo - bW);
  for (let h = 0; h < Ho; h++) {
    const row = dst + (<usize> h * Wo << 2);
    const ih = h - bH;
    if (src === 0 || ih < 0 || ih >= Hi || c1 <= c0) {
      fill32(row, Wo, value);
      continue;
    }
    fill32(row, bW + c0, value);
    copy32(row + (<usize> (bW + c0) << 2), src + ((<usize> ih * Wi + c0) << 2), c1 - c0);
    fill32(row + (<usize> (bW + c1) << 2), Wo - bW - c1, value);
  }
}

// ---- counter-based random numbers (Philox4x32-10; the keying and float32 mapping of kernels/random.ts) ---------

// 24 random bits mapped into (0, 1).
@inline function unit(x: u32): f32 {
  return (<f32> (x >>> 8) + 0.5) * 5.9604644775390625e-8;
}

/**
 * Elements [start, end) of a draw: kind 0 uniform in [a, b), 1 normal (mean a, std b, Box-Muller in double),
 * 2 integers floor of uniform [a, b) (int32). Counter (element within the sample, global sample, step, lane), key
 * (seed, stream).
 */
export function philox(
  kind: i32, out: usize, start: i32, end: i32, perSample: i32,
  sampleOffset: u32, seed: u32, stream: u32, step: u32, lane: u32, a: f32, b: f32,
): void {
  const span = b - a;
  for (let i = start; i < end; i++) {
    let c0 = <u32> (i % perSample), c1 = sampleOffset + <u32> (i / perSample), c2 = step, c3 = lane;
    let k0 = seed, k1 = stream;
    for (let r = 0; r < 10; r++) {
      const p0 = <u64> 0xD2511F53 * <u64> c0, p1 = <u64> 0xCD9E8D57 * <u64> c2;
      const n0 = <u32> (p1 >>> 32) ^ c1 ^ k0, n2 = <u32> (p0 >>> 32) ^ c3 ^ k1;
      c0 = n0;
      c1 = <u32> p1;
      c2 = n2;
      c3 = <u32> p0;
      k0 += 0x9E3779B9;
      k1 += 0xBB67AE85;
    }
    const o = out + (<usize> i << 2);
    if (kind === 0) store<f32>(o, a + span * unit(c0));
    else if (kind === 1) {
      const r = Math.sqrt(-2.0 * Math.log(<f64> unit(c0)));
      store<f32>(o, <f32> (<f64> a + <f64> b * r * Math.cos(6.283185307179586 * <f64> unit(c1))));
    } else store<i32>(o, <i32> Mathf.floor(a + span * unit(c0)));
  }
}

// ---- sums (in double, like the JavaScript reduction) ------------------------------------------------------------

/** out[r] = Σ_k x[r·R + k] for rows r < rows (contiguous rows of R values). */
export function sumRows(x: usize, out: usize, rows: i32, R: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = x + ((<usize> r * R) << 2);
    let a = f64x2.splat(0), b = f64x2.splat(0);
    const body = R & ~3;
    let k = 0;
    for (; k < body; k += 4) {
      const v = v128.load(row + (<usize> k << 2));
      a = f64x2.add(a, f64x2.promote_low_f32x4(v));
      b = f64x2.add(b, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
    }
    a = f64x2.add(a, b);
    let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
    for (; k < R; k++) s += <f64> load<f32>(row + (<usize> k << 2));
    store<f32>(out + (<usize> r << 2), <f32> s);
  }
}

/** out[i] = Σ_r x[r·stride + i] for columns i < w (R rows, `stride` values apart). */
export function sumCols(x: usize, out: usize, R: i32, stride: i32, w: i32): void {
  let i = 0;
  for (; i + 4 <= w; i += 4) {
    let a = f64x2.splat(0), b = f64x2.splat(0);
    for (let r = 0; r < R; r++) {
      const v = v128.load(x + ((<usize> r * stride + i) << 2));
      a = f64x2.add(a, f64x2.promote_low_f32x4(v));
      b = f64x2.add(b, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
    }
    const o = out + (<usize> i << 2);
    store<f32>(o, <f32> f64x2.extract_lane(a, 0));
    store<f32>(o, <f32> f64x2.extract_lane(a, 1), 4);
    store<f32>(o, <f32> f64x2.extract_lane(b, 0), 8);
    store<f32>(o, <f32> f64x2.extract_lane(b, 1), 12);
  }
  for (; i < w; i++) {
    let s: f64 = 0;
    for (let r = 0; r < R; r++) s += <f64> load<f32>(x + ((<usize> r * stride + i) << 2));
    store<f32>(out + (<usize> i << 2), <f32> s);
  }
}

// ---- scheduler step and noise mix (float32 operation order of kernels/fused.ts's contracts) ---------------------

/**
 * Elements [start, end) of one DDPM (ddim 0) / DDIM step: x0 = (a·x + b·m)/c (clipped to [lo, hi]), other = ddim ?
 * (d·x + e·m)/f : x, prev = p·x0 + q·other (+ s·noise).
 */
export function schedulerStep(
  ddim: i32, clip: i32, hasNoise: i32, sample: usize, model: usize, noise: usize, prev: usize, pred: usize,
  start: i32, end: i32, a: f32, b: f32, c: f32, d: f32, e: f32, f: f32, lo: f32, hi: f32, p: f32, q: f32, s: f32,
): void {
  for (let i = start; i < end; i++) {
    const o = <usize> i << 2;
    const xs = load<f32>(sample + o), m = load<f32>(model + o);
    let x0 = (a * xs + b * m) / c;
    if (clip) x0 = min(max(x0, lo), hi);
    const other = ddim ? (d * xs + e * m) / f : xs;
    let pv = p * x0 + q * other;
    if (hasNoise) pv = pv + s * load<f32>(noise + o);
    store<f32>(prev + o, pv);
    store<f32>(pred + o, x0);
  }
}

/**
 * Elements [start, end) of add_noise (velocity 0: ca·x0 + cb·eps) or get_velocity (1: ca·eps − cb·x0), with ca, cb
 * from `table` ([2, T]) at each sample's timestep (one timestep for all when count is 1); NaN for a timestep
 * outside [0, T).
 */
export function noiseMix(
  velocity: i32, orig: usize, noise: usize, ts: usize, table: usize, out: usize,
  start: i32, end: i32, perSample: i32, count: i32, T: i32,
): void {
  for (let i = start; i < end; i++) {
    const t = load<i32>(ts + (count === 1 ? 0 : (<usize> (i / perSample) << 2)));
    const o = <usize> i << 2;
    if (t < 0 || t >= T) {
      store<f32>(out + o, NaN);
      continue;
    }
    const ca = load<f32>(table + (<usize> t << 2)), cb = load<f32>(table + (<usize> (T + t) << 2));
    const x0 = load<f32>(orig + o), eps = load<f32>(noise + o);
    store<f32>(out + o, velocity ? ca * eps - cb * x0 : ca * x0 + cb * eps);
  }
}

// ---- nearest resampling over [BC, D, H, W] (source index floor(o·inv) in float32, as the GPU kernels) ----------

@inline function srcNearest(o: i32, inv: f32, n: i32): i32 {
  return min(<i32> Mathf.floor(<f32> o * inv), n - 1);
}

/** Output elements [start, end) of nearest resampling: dst[i] = src at the source voxel of output voxel i. */
export function nearestForward(
  src: usize, dst: usize, start: i32, end: i32,
  Di: i32, Hi: i32, Wi: i32, Do: i32, Ho: i32, Wo: i32, invD: f32, invH: f32, invW: f32,
): void {
  let ow = start % Wo, oh = (start / Wo) % Ho, od = (start / (Wo * Ho)) % Do;
  const inVol = <usize> Di * Hi * Wi;
  let base = src + ((<usize> (start / (Wo * Ho * Do)) * inVol) << 2);
  let row = base + ((<usize> (srcNearest(od, invD, Di) * Hi + srcNearest(oh, invH, Hi)) * Wi) << 2);
  for (let i = start; i < end; i++) {
    store<f32>(dst + (<usize> i << 2), load<f32>(row + (<usize> srcNearest(ow, invW, Wi) << 2)));
    if (++ow === Wo) {
      ow = 0;
      if (++oh === Ho) {
        oh = 0;
        if (++od === Do) {
          od = 0;
          base += inVol << 2;
        }
      }
      row = base + ((<usize> (srcNearest(od, invD, Di) * Hi + srcNearest(oh, invH, Hi)) * Wi) << 2);
    }
  }
}

/** Planes [p0, p1) of the nearest-resampling gradient: dx plane zeroed, each output gradient added at its source. */
export function nearestBackward(
  g: usize, dx: usize, p0: i32, p1: i32,
  Di: i32, Hi: i32, Wi: i32, Do: i32, Ho: i32, Wo: i32, invD: f32, invH: f32, invW: f32,
): void {
  const inVol = <usize> Di * Hi * Wi, outVol = <usize> Do * Ho * Wo;
  for (let p = p0; p < p1; p++) {
    const d = dx + ((<usize> p * inVol) << 2);
    memory.fill(d, 0, inVol << 2);
    let o = g + ((<usize> p * outVol) << 2);
    for (let od = 0; od < Do; od++) {
      const sd = srcNearest(od, invD, Di) * Hi;
      for (let oh = 0; oh < Ho; oh++) {
        const row = d + ((<usize> (sd + srcNearest(oh, invH, Hi)) * Wi) << 2);
        for (let ow = 0; ow < Wo; ow++, o += 4) {
          const at = row + (<usize> srcNearest(ow, invW, Wi) << 2);
          store<f32>(at, load<f32>(at) + load<f32>(o));
        }
      }
    }
  }
}

// ---- fused attention one row at a time (head sizes not a multiple of 4; the blocked kernels below) ----------
// Rows accumulate in float32 in their output row (SIMD over the head dimension); softmax terms in double.

@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let t = 0;
  for (; t + 4 <= n; t += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize> t << 2)), v128.load(b + (<usize> t << 2))));
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; t < n; t++) s += load<f32>(a + (<usize> t << 2)) * load<f32>(b + (<usize> t << 2));
  return s;
}

/** y += a·x over n values. */
@inline function axpy(y: usize, a: f32, x: usize, n: i32): void {
  const av = f32x4.splat(a);
  let t = 0;
  for (; t + 4 <= n; t += 4) {
    const o = <usize> t << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(av, v128.load(x + o))));
  }
  for (; t < n; t++) store<f32>(y + (<usize> t << 2), load<f32>(y + (<usize> t << 2)) + a * load<f32>(x + (<usize> t << 2)));
}

@inline function scaleRow(y: usize, a: f32, n: i32): void {
  for (let t = 0; t < n; t++) store<f32>(y + (<usize> t << 2), load<f32>(y + (<usize> t << 2)) * a);
}

/** Query rows [r0, r1) of head bh: o = softmax(q·kᵀ·scale)·v, lse = log-sum-exp of each row. */
function attnForwardRows(
  q: usize, k: usize, v: usize, o: usize, lse: usize,
  Tq: i32, Tk: i32, d: i32, dv: i32, scale: f64, bh: i32, r0: i32, r1: i32,
): void {
  const kb = k + ((<usize> bh * Tk * d) << 2), vb = v + ((<usize> bh * Tk * dv) << 2);
  for (let i = r0; i < r1; i++) {
    const row = <usize> bh * Tq + i;
    const qi = q + ((row * d) << 2), oi = o + ((row * dv) << 2);
    memory.fill(oi, 0, <usize> dv << 2);
    let m = -Infinity, l = 0.0;
    for (let j = 0; j < Tk; j++) {
      const s = <f64> dot(qi, kb + ((<usize> j * d) << 2), d) * scale;
      if (s > m) {
        const r = Math.exp(m - s);
        l *= r;
        scaleRow(oi, <f32> r, dv);
        m = s;
      }
      const p = Math.exp(s - m);
      l += p;
      axpy(oi, <f32> p, vb + ((<usize> j * dv) << 2), dv);
    }
    scaleRow(oi, <f32> (1.0 / l), dv);
    store<f32>(lse + (row << 2), <f32> (m + Math.log(l)));
  }
}

/**
 * Query rows [r0, r1) of head bh: dd = Σ dout·o per row, dq = scale·Σ_j p_ij (dout·v_j − dd) k_j. Only for head
 * sizes that are not multiples of 4: the blocked backward makes dq in attnGradKV's pass.
 */
export function attnGradQ(
  q: usize, k: usize, v: usize, o: usize, lse: usize, dout: usize, dq: usize, dd: usize,
  Tq: i32, Tk: i32, d: i32, dv: i32, scale: f64, bh: i32, r0: i32, r1: i32,
): void {
  const kb = k + ((<usize> bh * Tk * d) << 2), vb = v + ((<usize> bh * Tk * dv) << 2);
  for (let i = r0; i < r1; i++) {
    const row = <usize> bh * Tq + i;
    const qi = q + ((row * d) << 2), gi = dout + ((row * dv) << 2), oi = o + ((row * dv) << 2);
    const dqi = dq + ((row * d) << 2);
    const delta = dot(gi, oi, dv);
    store<f32>(dd + (row << 2), delta);
    const L = <f64> load<f32>(lse + (row << 2));
    memory.fill(dqi, 0, <usize> d << 2);
    for (let j = 0; j < Tk; j++) {
      const kj = kb + ((<usize> j * d) << 2);
      const s = <f64> dot(qi, kj, d), dp = dot(gi, vb + ((<usize> j * dv) << 2), dv);
      const ds = Math.exp(s * scale - L) * <f64> (dp - delta);
      axpy(dqi, <f32> ds, kj, d);
    }
    scaleRow(dqi, <f32> scale, d);
  }
}

/** Key rows [r0, r1) of head bh: dk = scale·Σ_i p_ij (dout_i·v_j − dd_i) q_i, dv = Σ_i p_ij dout_i. */
function attnGradKVRows(
  q: usize, k: usize, v: usize, lse: usize, dout: usize, dd: usize, dk: usize, dvOut: usize,
  Tq: i32, Tk: i32, d: i32, dv: i32, scale: f64, bh: i32, r0: i32, r1: i32,
): void {
  const qb = q + ((<usize> bh * Tq * d) << 2), gb = dout + ((<usize> bh * Tq * dv) << 2);
  for (let j = r0; j < r1; j++) {
    const krow = <usize> bh * Tk + j;
    const kj = k + ((krow * d) << 2), vj = v + ((krow * dv) << 2);
    const dkj = dk + ((krow * d) << 2), dvj = dvOut + ((krow * dv) << 2);
    memory.fill(dkj, 0, <usize> d << 2);
    memory.fill(dvj, 0, <usize> dv << 2);
    for (let i = 0; i < Tq; i++) {
      const qi = qb + ((<usize> i * d) << 2), gi = gb + ((<usize> i * dv) << 2), row = <usize> bh * Tq + i;
      const s = <f64> dot(qi, kj, d), dp = dot(gi, vj, dv);
      const p = Math.exp(s * scale - <f64> load<f32>(lse + (row << 2)));
      const ds = p * <f64> (dp - load<f32>(dd + (row << 2)));
      axpy(dkj, <f32> ds, qi, d);
      axpy(dvj, <f32> p, gi, dv);
    }
    scaleRow(dkj, <f32> scale, d);
  }
}

// ---- fused attention (online softmax; no [T, T] matrix), per (batch·head, rows) --------------------------------
// Blocks of 4 rows (queries forward, keys backward) against ATT_BLOCK columns at a time: the block's
// scores are computed once into a small per-thread scratch with the 4 rows in the 4 lanes, so the row max, exp and
// the softmax terms are plain lane-wise SIMD, then reused for the value (or gradient) accumulation. Row tails
// repeat the last row (same reads, same writes). V8 bounds-checks every wasm load here, so the inner loops load
// each vector once for several multiply-adds (≤ 14 v128 live). The backward is one pass over key rows: dK and dV
// accumulate in their rows, dQ (the same block's dS, transposed) in a per-thread partial that attnSumParts adds up.
// Head sizes must be multiples of 4; others take the row-at-a-time loops above.

/** Columns per block; the scratch of one thread is attnScratchBytes (JavaScript: ATTENTION_SCRATCH_BYTES). */
const ATT_BLOCK = 64;
// Scratch: scores [ATT_BLOCK] v128, second scores [ATT_BLOCK] v128, then two v128 of per-row values.
const ATT_S2 = <usize> ATT_BLOCK << 4, ATT_ROW = <usize> ATT_BLOCK << 5;

/** (Σa0, Σa1, Σa2, Σa3): the lanes of each vector summed, one vector per lane. */
@inline function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const u = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const w = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u, w, 0, 1, 4, 5), v128.shuffle<f32>(u, w, 2, 3, 6, 7));
}

/**
 * out[j] (lane r: row a_r) = scale · a_r·b_j over len floats (len % 4 = 0) for j < n, b_j at b + j·stride bytes.
 * Two columns per step (8 accumulators); an odd last column is computed twice and its copy lands in out[n].
 */
function attnScores(a0: usize, a1: usize, a2: usize, a3: usize, b: usize, stride: usize, n: i32, len: i32,
  scale: f32, out: usize): void {
  const sv = f32x4.splat(scale), bytes = <usize> len << 2;
  for (let j = 0; j < n; j += 2) {
    const b0 = b + <usize> j * stride, b1 = j + 1 < n ? b0 + stride : b0;
    let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (let t: usize = 0; t < bytes; t += 16) {
      const x0 = v128.load(b0 + t), x1 = v128.load(b1 + t);
      let y = v128.load(a0 + t);
      c00 = f32x4.relaxed_madd(y, x0, c00);
      c01 = f32x4.relaxed_madd(y, x1, c01);
      y = v128.load(a1 + t);
      c10 = f32x4.relaxed_madd(y, x0, c10);
      c11 = f32x4.relaxed_madd(y, x1, c11);
      y = v128.load(a2 + t);
      c20 = f32x4.relaxed_madd(y, x0, c20);
      c21 = f32x4.relaxed_madd(y, x1, c21);
      y = v128.load(a3 + t);
      c30 = f32x4.relaxed_madd(y, x0, c30);
      c31 = f32x4.relaxed_madd(y, x1, c31);
    }
    const o = out + (<usize> j << 4);
    v128.store(o, f32x4.mul(hsum4(c00, c10, c20, c30), sv));
    v128.store(o, f32x4.mul(hsum4(c01, c11, c21, c31), sv), 16);
  }
}

/**
 * x_r = x_r·f_r + Σ_{j<n} (lane r of p[j])·b_j over len floats (len % 4 = 0), b_j at b + j·stride bytes, for the
 * 4 rows x_r (f: one factor per lane). Eight floats of the 4 rows per pass (8 accumulators), then a last four.
 */
function attnAccumulate(x0: usize, x1: usize, x2: usize, x3: usize, f: v128, p: usize, b: usize, stride: usize,
  n: i32, len: i32): void {
  const f0 = v128.shuffle<f32>(f, f, 0, 0, 0, 0), f1 = v128.shuffle<f32>(f, f, 1, 1, 1, 1);
  const f2 = v128.shuffle<f32>(f, f, 2, 2, 2, 2), f3 = v128.shuffle<f32>(f, f, 3, 3, 3, 3);
  const bytes = <usize> len << 2, pEnd = p + (<usize> n << 4);
  let t: usize = 0;
  for (; t + 32 <= bytes; t += 32) {
    let c00 = f32x4.mul(v128.load(x0 + t), f0), c01 = f32x4.mul(v128.load(x0 + t, 16), f0);
    let c10 = f32x4.mul(v128.load(x1 + t), f1), c11 = f32x4.mul(v128.load(x1 + t, 16), f1);
    let c20 = f32x4.mul(v128.load(x2 + t), f2), c21 = f32x4.mul(v128.load(x2 + t, 16), f2);
    let c30 = f32x4.mul(v128.load(x3 + t), f3), c31 = f32x4.mul(v128.load(x3 + t, 16), f3);
    let bj = b + t;
    for (let pj = p; pj < pEnd; pj += 16, bj += stride) {
      const w = v128.load(pj), y0 = v128.load(bj), y1 = v128.load(bj, 16);
      let s = v128.shuffle<f32>(w, w, 0, 0, 0, 0);
      c00 = f32x4.relaxed_madd(s, y0, c00);
      c01 = f32x4.relaxed_madd(s, y1, c01);
      s = v128.shuffle<f32>(w, w, 1, 1, 1, 1);
      c10 = f32x4.relaxed_madd(s, y0, c10);
      c11 = f32x4.relaxed_madd(s, y1, c11);
      s = v128.shuffle<f32>(w, w, 2, 2, 2, 2);
      c20 = f32x4.relaxed_madd(s, y0, c20);
      c21 = f32x4.relaxed_madd(s, y1, c21);
      s = v128.shuffle<f32>(w, w, 3, 3, 3, 3);
      c30 = f32x4.relaxed_madd(s, y0, c30);
      c31 = f32x4.relaxed_madd(s, y1, c31);
    }
    v128.store(x0 + t, c00);
    v128.store(x0 + t, c01, 16);
    v128.store(x1 + t, c10);
    v128.store(x1 + t, c11, 16);
    v128.store(x2 + t, c20);
    v128.store(x2 + t, c21, 16);
    v128.store(x3 + t, c30);
    v128.store(x3 + t, c31, 16);
  }
  if (t < bytes) {
    let c0 = f32x4.mul(v128.load(x0 + t), f0), c1 = f32x4.mul(v128.load(x1 + t), f1);
    let c2 = f32x4.mul(v128.load(x2 + t), f2), c3 = f32x4.mul(v128.load(x3 + t), f3);
    let bj = b + t;
    for (let pj = p; pj < pEnd; pj += 16, bj += stride) {
      const w = v128.load(pj), y = v128.load(bj);
      c0 = f32x4.relaxed_madd(v128.shuffle<f32>(w, w, 0, 0, 0, 0), y, c0);
      c1 = f32x4.relaxed_madd(v128.shuffle<f32>(w, w, 1, 1, 1, 1), y, c1);
      c2 = f32x4.relaxed_madd(v128.shuffle<f32>(w, w, 2, 2, 2, 2), y, c2);
      c3 = f32x4.relaxed_madd(v128.shuffle<f32>(w, w, 3, 3, 3, 3), y, c3);
    }
    v128.store(x0 + t, c0);
    v128.store(x1 + t, c1);
    v128.store(x2 + t, c2);
    v128.store(x3 + t, c3);
  }
}

/**
 * y_i += Σ_r (lane r of p[i] ∧ mask)·x_r over len floats (len % 4 = 0) for columns i < n, y_i at y + i·stride:
 * the transpose of attnAccumulate, for a gradient that belongs to the columns. mask drops repeated tail rows.
 * Eight floats of the 4 rows x_r stay in registers while the columns stream past.
 */
function attnScatter(x0: usize, x1: usize, x2: usize, x3: usize, mask: v128, p: usize, y: usize, stride: usize,
  n: i32, len: i32): void {
  const bytes = <usize> len << 2, pEnd = p + (<usize> n << 4);
  let t: usize = 0;
  for (; t + 32 <= bytes; t += 32) {
    const a0 = v128.load(x0 + t), b0 = v128.load(x0 + t, 16), a1 = v128.load(x1 + t), b1 = v128.load(x1 + t, 16);
    const a2 = v128.load(x2 + t), b2 = v128.load(x2 + t, 16), a3 = v128.load(x3 + t), b3 = v128.load(x3 + t, 16);
    let yi = y + t;
    for (let pi = p; pi < pEnd; pi += 16, yi += stride) {
      const w = v128.and(v128.load(pi), mask);
      let s = v128.shuffle<f32>(w, w, 0, 0, 0, 0);
      let c0 = f32x4.relaxed_madd(s, a0, v128.load(yi)), c1 = f32x4.relaxed_madd(s, b0, v128.load(yi, 16));
      s = v128.shuffle<f32>(w, w, 1, 1, 1, 1);
      c0 = f32x4.relaxed_madd(s, a1, c0);
      c1 = f32x4.relaxed_madd(s, b1, c1);
      s = v128.shuffle<f32>(w, w, 2, 2, 2, 2);
      c0 = f32x4.relaxed_madd(s, a2, c0);
      c1 = f32x4.relaxed_madd(s, b2, c1);
      s = v128.shuffle<f32>(w, w, 3, 3, 3, 3);
      c0 = f32x4.relaxed_madd(s, a3, c0);
      c1 = f32x4.relaxed_madd(s, b3, c1);
      v128.store(yi, c0);
      v128.store(yi, c1, 16);
    }
  }
  if (t < bytes) {
    const a0 = v128.load(x0 + t), a1 = v128.load(x1 + t), a2 = v128.load(x2 + t), a3 = v128.load(x3 + t);
    let yi = y + t;
    for (let pi = p; pi < pEnd; pi += 16, yi += stride) {
      const w = v128.and(v128.load(pi), mask);
      let c = f32x4.relaxed_madd(v128.shuffle<f32>(w, w, 0, 0, 0, 0), a0, v128.load(yi));
      c = f32x4.relaxed_madd(v128.shuffle<f32>(w, w, 1, 1, 1, 1), a1, c);
      c = f32x4.relaxed_madd(v128.shuffle<f32>(w, w, 2, 2, 2, 2), a2, c);
      c = f32x4.relaxed_madd(v128.shuffle<f32>(w, w, 3, 3, 3, 3), a3, c);
      v128.store(yi, c);
    }
  }
}

/** exp over 4 lanes with the constants of EXP_K. */
@inline function expk(x: v128): v128 {
  return expv(x, k(0), k(1), k(2), k(3), k(4), k(5), k(6), k(7), k(8), k(9), k(10), k(11), k(12), k(13));
}

/** s[j] = exp(s[j] − m) for j < n; returns Σ_j s[j]. The constants are loaded once, outside the loop. */
function attnExpBlock(s: usize, n: i32, m: v128): v128 {
  const hi = k(0), lo = k(1), log2e = k(2), half = k(3), ln2hi = k(4), ln2lo = k(5), p0 = k(6), p1 = k(7);
  const p2 = k(8), p3 = k(9), p4 = k(10), p5 = k(11), one = k(12), magic = k(13);
  let sum = f32x4.splat(0);
  const end = s + (<usize> n << 4);
  for (let at = s; at < end; at += 16) {
    const e = expv(f32x4.sub(v128.load(at), m), hi, lo, log2e, half, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one,
      magic);
    v128.store(at, e);
    sum = f32x4.add(sum, e);
  }
  return sum;
}

/**
 * Backward probabilities of one block: s[j] = p = exp(s[j] − L), g[j] = scale · p ⊙ (g[j] − D). Per row (rows in
 * lanes): L, D are the vectors at rowL, rowD. Per column (columns are rows): L, D splat from rowL[j], rowD[j].
 */
@inline function attnGradBlock(perColumn: bool, s: usize, g: usize, n: i32, rowL: usize, rowD: usize,
  scale: f32): void {
  const hi = k(0), lo = k(1), log2e = k(2), half = k(3), ln2hi = k(4), ln2lo = k(5), p0 = k(6), p1 = k(7);
  const p2 = k(8), p3 = k(9), p4 = k(10), p5 = k(11), one = k(12), magic = k(13);
  const sv = f32x4.splat(scale);
  let L = perColumn ? f32x4.splat(0) : v128.load(rowL), D = perColumn ? f32x4.splat(0) : v128.load(rowD);
  for (let j = 0; j < n; j++) {
    const o = <usize> j << 4;
    if (perColumn) {
      L = v128.load32_splat(rowL + (<usize> j << 2));
      D = v128.load32_splat(rowD + (<usize> j << 2));
    }
    const p = expv(f32x4.sub(v128.load(s + o), L), hi, lo, log2e, half, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one,
      magic);
    v128.store(s + o, p);
    v128.store(g + o, f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(g + o), D)), sv));
  }
}

/** Row r0 + r of a block, clamped to the last row r1 − 1 (tail blocks repeat it). */
@inline function rowOf(r0: i32, r: i32, r1: i32): usize {
  return <usize> min(r0 + r, r1 - 1);
}

/** Query rows [r0, r1) of head bh: o = softmax(q·kᵀ·scale)·v, lse = log-sum-exp of each row. */
export function attnForward(
  q: usize, k: usize, v: usize, o: usize, lse: usize,
  Tq: i32, Tk: i32, d: i32, dv: i32, scale: f64, bh: i32, r0: i32, r1: i32, scratch: usize,
): void {
  if (((d | dv) & 3) != 0) {
    attnForwardRows(q, k, v, o, lse, Tq, Tk, d, dv, scale, bh, r0, r1);
    return;
  }
  const kb = k + ((<usize> bh * Tk * d) << 2), vb = v + ((<usize> bh * Tk * dv) << 2);
  const ks = <usize> d << 2, vs = <usize> dv << 2, base = <usize> bh * Tq, sc = <f32> scale;
  for (let i0 = r0; i0 < r1; i0 += 4) {
    const w0 = base + rowOf(i0, 0, r1), w1 = base + rowOf(i0, 1, r1);
    const w2 = base + rowOf(i0, 2, r1), w3 = base + rowOf(i0, 3, r1);
    const q0 = q + w0 * ks, q1 = q + w1 * ks, q2 = q + w2 * ks, q3 = q + w3 * ks;
    const o0 = o + w0 * vs, o1 = o + w1 * vs, o2 = o + w2 * vs, o3 = o + w3 * vs;
    const rows = min(4, r1 - i0);
    memory.fill(o0, 0, <usize> rows * vs); // the block's rows are consecutive
    let m = f32x4.splat(-Infinity), l = f32x4.splat(0);
    for (let j0 = 0; j0 < Tk; j0 += ATT_BLOCK) {
      const n = min(ATT_BLOCK, Tk - j0);
      attnScores(q0, q1, q2, q3, kb + <usize> j0 * ks, ks, n, d, sc, scratch);
      let mb = m;
      for (let j = 0; j < n; j++) mb = f32x4.pmax(mb, v128.load(scratch + (<usize> j << 4)));
      // Rescales what the earlier blocks summed (exp(−∞) = 0 on the first block, where both are 0).
      const alpha = expk(f32x4.sub(m, mb));
      m = mb;
      l = f32x4.add(f32x4.mul(l, alpha), attnExpBlock(scratch, n, m));
      attnAccumulate(o0, o1, o2, o3, alpha, scratch, vb + <usize> j0 * vs, vs, n, dv);
    }
    const row = scratch + ATT_ROW;
    v128.store(row, l);
    v128.store(row, m, 16);
    for (let r = 0; r < rows; r++) {
      const lr = <f64> load<f32>(row + (<usize> r << 2)), mr = <f64> load<f32>(row + (<usize> r << 2), 16);
      scaleRow(o0 + <usize> r * vs, <f32> (1.0 / lr), dv);
      store<f32>(lse + ((w0 + r) << 2), <f32> (mr + Math.log(lr)));
    }
  }
}

/** Key rows [r0, r1) of head bh: dk = scale·Σ_i p_ij (dout_i·v_j − dd_i) q_i, dv = Σ_i p_ij dout_i. */
export function attnGradKV(
  q: usize, k: usize, v: usize, lse: usize, dout: usize, dd: usize, dk: usize, dvOut: usize,
  Tq: i32, Tk: i32, d: i32, dv: i32, scale: f64, bh: i32, r0: i32, r1: i32, scratch: usize, dqPart: usize,
): void {
  if (((d | dv) & 3) != 0) {
    attnGradKVRows(q, k, v, lse, dout, dd, dk, dvOut, Tq, Tk, d, dv, scale, bh, r0, r1);
    return;
  }
  const qb = q + ((<usize> bh * Tq * d) << 2), gb = dout + ((<usize> bh * Tq * dv) << 2);
  const lb = lse + ((<usize> bh * Tq) << 2), db = dd + ((<usize> bh * Tq) << 2);
  const ks = <usize> d << 2, vs = <usize> dv << 2, base = <usize> bh * Tk;
  const s = scratch, g = scratch + ATT_S2, one = f32x4.splat(1);
  for (let j0 = r0; j0 < r1; j0 += 4) {
    const w0 = base + rowOf(j0, 0, r1), w1 = base + rowOf(j0, 1, r1);
    const w2 = base + rowOf(j0, 2, r1), w3 = base + rowOf(j0, 3, r1);
    const rows = <usize> min(4, r1 - j0);
    memory.fill(dk + w0 * ks, 0, rows * ks);
    memory.fill(dvOut + w0 * vs, 0, rows * vs);
    const mask = i32x4(-1, rows > 1 ? -1 : 0, rows > 2 ? -1 : 0, rows > 3 ? -1 : 0);
    const k0 = k + w0 * ks, k1 = k + w1 * ks, k2 = k + w2 * ks, k3 = k + w3 * ks;
    for (let i0 = 0; i0 < Tq; i0 += ATT_BLOCK) {
      const n = min(ATT_BLOCK, Tq - i0);
      const qi = qb + <usize> i0 * ks, gi = gb + <usize> i0 * vs;
      attnScores(k0, k1, k2, k3, qi, ks, n, d, <f32> scale, s);
      attnScores(v + w0 * vs, v + w1 * vs, v + w2 * vs, v + w3 * vs, gi, vs, n, dv, 1, g);
      attnGradBlock(true, s, g, n, lb + (<usize> i0 << 2), db + (<usize> i0 << 2), <f32> scale);
      attnAccumulate(dvOut + w0 * vs, dvOut + w1 * vs, dvOut + w2 * vs, dvOut + w3 * vs, one, s, gi, vs, n, dv);
      attnAccumulate(dk + w0 * ks, dk + w1 * ks, dk + w2 * ks, dk + w3 * ks, one, g, qi, ks, n, d);
      if (dqPart) attnScatter(k0, k1, k2, k3, mask, g, dqPart + ((<usize> bh * Tq + i0) * ks), ks, n, d);
    }
  }
}

/**
 * The single-pass backward's first and last steps over query rows [r0, r1) of head bh: dd = Σ dout·o per row and
 * zeroed rows in each of `parts` dQ partials (partBytes apart); then dq = the sum of the partials.
 */
export function attnDelta(
  o: usize, dout: usize, dd: usize, Tq: i32, d: i32, dv: i32, bh: i32, r0: i32, r1: i32, part: usize, parts: i32,
  partBytes: usize,
): void {
  const vs = <usize> dv << 2, first = <usize> bh * Tq + r0;
  for (let i = r0; i < r1; i++) {
    const row = <usize> bh * Tq + i;
    store<f32>(dd + (row << 2), dot(dout + row * vs, o + row * vs, dv));
  }
  const at = part + first * (<usize> d << 2), bytes = <usize> (r1 - r0) * (<usize> d << 2);
  for (let p = 0; p < parts; p++) memory.fill(at + <usize> p * partBytes, 0, bytes);
}

export function attnSumParts(
  dq: usize, Tq: i32, d: i32, bh: i32, r0: i32, r1: i32, part: usize, parts: i32, partBytes: usize,
): void {
  const off = (<usize> bh * Tq + r0) * (<usize> d << 2), bytes = <usize> (r1 - r0) * (<usize> d << 2);
  for (let t: usize = 0; t < bytes; t += 16) {
    let acc = v128.load(part + off + t);
    for (let p = 1; p < parts; p++) acc = f32x4.add(acc, v128.load(part + <usize> p * partBytes + off + t));
    v128.store(dq + off + t, acc);
  }
}

/**
 * Planes [p0, p1) of a constant pad in rank 5 (lower ranks padded with leading 1s): planes run over the first
 * three output dims, each padPlane32 of the last two.
 */
export function padPlanes5(
  dst: usize, src: usize, p0: i32, p1: i32,
  O0: i32, O1: i32, O2: i32, O3: i32, O4: i32, I0: i32, I1: i32, I2: i32, I3: i32, I4: i32,
  B0: i32, B1: i32, B2: i32, B3: i32, B4: i32, value: i32,
): void {
  const inPlane = <usize> I3 * I4, outPlane = <usize> O3 * O4;
  for (let p = p0; p < p1; p++) {
    const q2 = p % O2, q1 = (p / O2) % O1, q0 = p / (O2 * O1);
    const c0 = q0 - B0, c1 = q1 - B1, c2 = q2 - B2;
    const inside = c0 >= 0 && c0 < I0 && c1 >= 0 && c1 < I1 && c2 >= 0 && c2 < I2;
    const from = inside ? src + ((<usize> ((c0 * I1 + c1) * I2 + c2) * inPlane) << 2) : 0;
    padPlane32(dst + ((<usize> p * outPlane) << 2), from, O3, O4, I3, I4, B3, B4, value);
  }
}
