/**
 * The WASM backend's SIMD loops (kernels.wasm) against plain TypeScript references, on a 2-thread backend of their
 * own (whatever backend the rest of the suite runs on): odd sizes (vector tails), sizes that split into several
 * chunks at odd offsets, the broadcast layouts of binary ops, special values, group norm with several planes per
 * chunk, constant pad of every dtype, strided gather/scatter, and the optimizer updates bit for bit.
 */
import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";
import { activeBackend, setBackend } from "../../tensor/backend/mod.ts";
import { WasmBackend } from "../../tensor/wasm/backend.ts";
import { attentionLimits } from "../../tensor/ops/attention.ts";
import { assertClose, randomArray, refBinary } from "./_helpers.ts";
import { assertConvMatchesRef, SMALL_CONV_CASES } from "./ops/_conv_check.ts";

/** Runs `fn` with a fresh WASM backend (2 threads unless told) installed, then puts the previous one back. */
async function onWasm(fn: (be: WasmBackend) => Promise<void>, threads = 2): Promise<void> {
  const prev = activeBackend();
  const be = await WasmBackend.create({ threads });
  await be.workers.warm();
  setBackend(be);
  try {
    await fn(be);
  } finally {
    setBackend(prev);
    be.workers.close();
  }
}

// 100003 elements split into chunks of 12501 on 2 threads: chunks start at odd offsets.
const SIZES = [1, 3, 4, 5, 33, 100003];
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 100, -100, 88.5, -90, -104.5, 1e-30, -3.4e38];

function withSpecials(n: number, seed: number, lo: number, hi: number): Float32Array {
  const x = randomArray(n, seed, lo, hi);
  if (n >= 64) SPECIAL.forEach((v, i) => (x[i * 5 + 1] = v));
  return x;
}

/** assertClose that also accepts equal infinities. */
function assertNear(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
) {
  const g = Array.from(got), w = Array.from(want);
  for (let i = 0; i < w.length; i++) if (g[i] === w[i]) g[i] = w[i] = 0;
  assertClose(g, w, rtol, atol, what);
}

const sigmoid = (a: number) => 1 / (1 + Math.exp(-a));
const UNARY: [string, (x: T.Tensor) => T.Tensor, (a: number) => number][] = [
  ["exp", T.exp, Math.exp],
  ["silu", T.silu, (a) => a / (1 + Math.exp(-a))],
  ["sigmoid", T.sigmoid, sigmoid],
  ["neg", T.neg, (a) => -a],
  ["sqrt", T.sqrt, Math.sqrt],
  ["abs", T.abs, Math.abs],
  ["square", T.square, (a) => a * a],
  ["relu", T.relu, (a) => (a > 0 ? a : a !== a ? a : 0)],
  ["affine", (x) => T.affine(x, 1.5, -0.25), (a) => a * 1.5 - 0.25],
  ["clamp", (x) => T.clamp(x, -0.5, 0.75), (a) => Math.min(Math.max(a, -0.5), 0.75)],
];

Deno.test("wasm SIMD unary ops match the TS reference on odd and multi-chunk sizes, special values included", async () => {
  await onWasm(async () => {
    for (const n of SIZES) {
      const x = withSpecials(n, n, -6, 6);
      const xt = T.tensor(x, [n]);
      for (const [name, op, ref] of UNARY) {
        const want = Float32Array.from(x, ref);
        // exp family: a polynomial of ~2 ulp; results below float32's normal range may flush differently.
        assertNear(await op(xt).data(), want, 1e-6, 1e-37, `${name} n=${n}`);
      }
      const copy = T.mapRaw("copy", [xt]);
      assert.deepEqual(new Uint32Array((await copy.data()).buffer), new Uint32Array(x.buffer), `copy n=${n}`);
    }
  });
});

Deno.test("wasm SIMD binary ops: same shape, scalar, per-row and broadcast-first layouts", async () => {
  await onWasm(async () => {
    const cases: [number[], number[]][] = [
      [[100003], [100003]],
      [[5], [5]],
      [[37, 2711], [1]],
      [[3, 7, 1001], [3, 7, 1]],
      [[7, 13], [7, 1]],
      [[3, 7, 1], [3, 7, 1001]],
      [[2, 3, 4, 5], [1, 3, 1, 1]],
    ];
    const ops: [string, (a: T.Tensor, b: T.Tensor) => T.Tensor, (a: number, b: number) => number][] = [
      ["add", T.add, (a, b) => a + b],
      ["sub", T.sub, (a, b) => a - b],
      ["mul", T.mul, (a, b) => a * b],
      ["div", T.div, (a, b) => a / b],
      ["maximum", T.maximum, (a, b) => Math.max(a, b)],
      ["minimum", T.minimum, (a, b) => Math.min(a, b)],
    ];
    for (const [sa, sb] of cases) {
      const na = sa.reduce((x, y) => x * y, 1), nb = sb.reduce((x, y) => x * y, 1);
      const a = randomArray(na, na, -3, 3), b = randomArray(nb, nb + 1, 0.5, 2);
      for (const [name, op, ref] of ops) {
        const y = op(T.tensor(a, sa), T.tensor(b, sb));
        assertClose(await y.data(), refBinary(a, sa, b, sb, ref).data, 1e-6, 1e-7, `${name} [${sa}] [${sb}]`);
      }
    }
    for (const n of SIZES) {
      const x = withSpecials(n, 3 * n, -9, 9), g = randomArray(n, 5 * n, -2, 2);
      const want = Float32Array.from(x, (a, i) => {
        const s = sigmoid(a);
        return g[i] * s * (1 + a * (1 - s));
      });
      const got = await T.mapRaw("siluGrad", [T.tensor(x, [n]), T.tensor(g, [n])]).data();
      // 1 + a·(1 − s) cancels near a ≈ −1.28, so the float32 error there is absolute (in units of |g|).
      assertClose(got, want, 1e-5, 1e-6, `siluGrad n=${n}`);
      const rg = await T.mapRaw("reluGrad", [T.tensor(x, [n]), T.tensor(g, [n])]).data();
      assertClose(rg, Float32Array.from(x, (a, i) => (a > 0 ? g[i] : 0)), 0, 0, `reluGrad n=${n}`);
    }
  });
});

function refGroupNorm(
  x: Float32Array,
  shape: number[],
  G: number,
  w: Float32Array,
  b: Float32Array,
  eps: number,
) {
  const [B, C] = shape, S = x.length / (B * C), Cg = C / G, y = new Float32Array(x.length);
  const stats: [number, number][] = [];
  for (let n = 0; n < B; n++) {
    for (let g = 0; g < G; g++) {
      const start = (n * C + g * Cg) * S, len = Cg * S;
      let mean = 0, v = 0;
      for (let i = 0; i < len; i++) mean += x[start + i];
      mean /= len;
      for (let i = 0; i < len; i++) v += (x[start + i] - mean) ** 2;
      const r = 1 / Math.sqrt(v / len + eps);
      stats.push([mean, r]);
      for (let i = 0; i < len; i++) {
        const c = g * Cg + Math.floor(i / S);
        y[start + i] = (x[start + i] - mean) * r * w[c] + b[c];
      }
    }
  }
  return { y, stats };
}

/** dx, dgamma, dbeta of group norm for upstream gradient dy. */
function refGroupNormBackward(
  x: Float32Array,
  dy: Float32Array,
  shape: number[],
  G: number,
  w: Float32Array,
  eps: number,
) {
  const [B, C] = shape, S = x.length / (B * C), Cg = C / G;
  const { stats } = refGroupNorm(x, shape, G, w, new Float32Array(C), eps);
  const dx = new Float32Array(x.length), dw = new Float64Array(C), db = new Float64Array(C);
  for (let n = 0; n < B; n++) {
    for (let g = 0; g < G; g++) {
      const [mean, r] = stats[n * G + g], start = (n * C + g * Cg) * S, len = Cg * S;
      let m1 = 0, m2 = 0;
      for (let i = 0; i < len; i++) {
        const c = g * Cg + Math.floor(i / S), xh = (x[start + i] - mean) * r, d = dy[start + i] * w[c];
        m1 += d;
        m2 += d * xh;
        dw[c] += dy[start + i] * xh;
        db[c] += dy[start + i];
      }
      for (let i = 0; i < len; i++) {
        const c = g * Cg + Math.floor(i / S), xh = (x[start + i] - mean) * r;
        dx[start + i] = r * (dy[start + i] * w[c] - m1 / len - xh * (m2 / len));
      }
    }
  }
  return { dx, dw, db };
}

Deno.test("wasm group norm forward and backward match the TS reference with several planes per chunk", async () => {
  await onWasm(async () => {
    // [4, 64, 6³]: 256 planes of 216 → chunks of 37 planes; [1, 8, 3, 5, 7]: one chunk, odd plane size.
    const cases: [number[], number][] = [[[4, 64, 6, 6, 6], 8], [[1, 8, 3, 5, 7], 4], [
      [2, 4, 33, 33, 31],
      2,
    ]];
    for (const [shape, G] of cases) {
      const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
      const x = randomArray(n, 21, -2, 3), w = randomArray(C, 22, 0.5, 1.5), b = randomArray(C, 23);
      const dy = randomArray(n, 24, -1, 1);
      const xt = T.tensor(x, [...shape]).requireGrad();
      const wt = T.tensor(w, [C]).requireGrad(), bt = T.tensor(b, [C]).requireGrad();
      const y = T.groupNorm(xt, G, wt, bt, 1e-5);
      assertClose(await y.data(), refGroupNorm(x, [...shape], G, w, b, 1e-5).y, 1e-4, 1e-5, `gn [${shape}]`);
      T.sum(T.mul(y, T.tensor(dy, [...shape]))).backward();
      const ref = refGroupNormBackward(x, dy, [...shape], G, w, 1e-5);
      assertClose(await xt.grad!.data(), ref.dx, 1e-3, 1e-5, `gn dx [${shape}]`);
      assertClose(await wt.grad!.data(), ref.dw, 1e-4, 1e-3, `gn dgamma [${shape}]`);
      assertClose(await bt.grad!.data(), ref.db, 1e-4, 1e-3, `gn dbeta [${shape}]`);
    }
  });
});

/** Plain-TS constant pad (row-major). */
function refPad(
  x: ArrayLike<number>,
  shape: number[],
  before: number[],
  after: number[],
  v: number,
): number[] {
  const out = shape.map((d, i) => d + before[i] + after[i]);
  const n = out.reduce((a, b) => a * b, 1), res: number[] = [];
  for (let i = 0; i < n; i++) {
    let rem = i, off = 0, stride = 1, inside = true;
    for (let d = out.length - 1; d >= 0; d--) {
      const q = rem % out[d];
      rem = Math.floor(rem / out[d]);
      const c = q - before[d];
      if (c < 0 || c >= shape[d]) inside = false;
      off += c * stride;
      stride *= shape[d];
    }
    res.push(inside ? x[off] : v);
  }
  return res;
}

Deno.test("wasm constant pad matches the TS reference for every dtype, rank 1 to 6", async () => {
  await onWasm(async () => {
    const cases: [number[], number[], number[]][] = [
      [[7], [2], [3]],
      [[5, 6], [1, 0], [0, 3]],
      [[3, 4, 5], [1, 0, 2], [2, 1, 0]],
      [[2, 3, 9, 9, 9], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1]],
      [[2, 8, 33, 17, 9], [0, 1, 2, 0, 3], [1, 0, 0, 2, 1]],
      [[2, 1, 3, 2, 4, 5], [1, 0, 1, 0, 2, 1], [0, 2, 0, 1, 0, 2]],
    ];
    for (const [shape, before, after] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const f = randomArray(n, n, -4, 4);
      for (const dtype of ["float32", "int32", "float16"] as const) {
        const data = dtype === "int32" ? Int32Array.from(f, (v) => Math.round(v * 100)) : f;
        const x = T.tensor(
          dtype === "float16" ? Float32Array.from(f, (v) => Math.fround(v)) : data,
          shape,
          dtype,
        );
        const host = dtype === "float16" ? Array.from(new Float16Array(f)) : Array.from(data);
        const got = Array.from(await T.pad(x, before, after, 2.5).data());
        const want = refPad(host, shape, before, after, dtype === "int32" ? 2 : 2.5);
        assert.deepEqual(got, want, `pad ${dtype} [${shape}] ${before} ${after}`);
      }
    }
  });
});

/** Source index of each output element of a strided gather (or target of a scatter): offset + Σ coord·strides. */
function regionIndex(shape: number[], strides: number[], offset: number): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => {
    let p = offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      p += (i % shape[d]) * strides[d];
      i = Math.floor(i / shape[d]);
    }
    return p;
  });
}

Deno.test("wasm strided gather and scatter match the TS reference: ranks 1 to 7, zero and negative strides, across chunks", async () => {
  await onWasm(async (be) => {
    // [shape, strides, offset]; the 75075-element cases split into chunks that start inside a row.
    const gathers: [number[], number[], number][] = [
      [[9], [-1], 8],
      [[4, 7], [1, 4], 0],
      [[3, 1, 5], [0, 9, 2], 1],
      [[2, 3, 4, 27], [0, 27, 81, -1], 26],
      [[3, 5, 7, 11, 13, 5], [5, 1, 15, 105, 1155, 3], 0],
      [[3, 5, 7, 11, 13, 5], [-25025, 5005, 715, 65, 5, 1], 2 * 25025],
      [[2, 2, 3, 2, 3, 2, 5], [360, 1, 2, 6, 12, 36, 72], 0],
    ];
    for (const [shape, strides, offset] of gathers) {
      const idx = regionIndex(shape, strides, offset);
      const size = Math.max(...idx) + 1;
      for (const dtype of ["float32", "int32", "float16"] as const) {
        const scale = dtype === "int32" ? 1 : 1 / 64; // values exact in every dtype
        const host = Array.from(
          randomArray(size, size + shape.length, -8, 8),
          (v) => Math.round(v * 64) * scale + 0,
        );
        const x = T.tensor(host, [size], dtype);
        const out = T.empty(shape, dtype);
        be.strided(dtype, x.buffer(), out.buffer(), shape, strides, offset);
        assert.deepEqual(Array.from(await out.data()), idx.map((p) => host[p]), `gather ${dtype} [${shape}]`);
        // Scatter back through a one-to-one map: contiguous strides of a permuted shape.
        if (new Set(idx).size === idx.length) {
          const y = T.tensor(new Array(size).fill(-99), [size], dtype);
          be.scatterRegion(dtype, out.buffer(), y.buffer(), shape, strides, offset);
          const want = new Array(size).fill(-99);
          idx.forEach((p) => (want[p] = host[p]));
          assert.deepEqual(Array.from(await y.data()), want, `scatter ${dtype} [${shape}]`);
          y.dispose();
        }
        x.dispose();
        out.dispose();
      }
    }
  });
});

// The optimizer updates in float32 operation order (Math.fround per op), as PyTorch does them.
const f = Math.fround;
function refAdam(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; step: number; decoupled: boolean },
) {
  const bc1 = 1 - o.b1 ** o.step, bc2 = Math.sqrt(1 - o.b2 ** o.step), stepSize = f(o.lr / bc1);
  const decay = f(1 - o.lr * o.wd), omb1 = f(1 - o.b1), omb2 = f(1 - o.b2);
  for (let i = 0; i < p.length; i++) {
    let param = p[i], grad = g[i];
    if (o.wd !== 0) {
      if (o.decoupled) param = f(param * decay);
      else grad = f(grad + f(f(o.wd) * param));
    }
    const mi = f(f(m[i] * f(o.b1)) + f(omb1 * grad));
    const vi = f(f(v[i] * f(o.b2)) + f(f(omb2 * grad) * grad));
    m[i] = mi;
    v[i] = vi;
    const denom = f(f(f(Math.sqrt(vi)) / f(bc2)) + f(o.eps));
    p[i] = f(param + f(f(-stepSize * mi) / denom));
  }
  return { stepSize, bc2 };
}

function refSgd(
  p: Float32Array,
  g: Float32Array,
  buf: Float32Array | null,
  o: { lr: number; wd: number; mom: number; damp: number; first: boolean; nesterov: boolean },
) {
  for (let i = 0; i < p.length; i++) {
    const param = p[i];
    let d = g[i];
    if (o.wd !== 0) d = f(d + f(f(o.wd) * param));
    if (buf) {
      let b = d;
      if (!o.first) b = f(f(buf[i] * f(o.mom)) + f(f(1 - o.damp) * d));
      buf[i] = b;
      d = o.nesterov ? f(d + f(f(o.mom) * b)) : b;
    }
    p[i] = f(param + f(f(-o.lr) * d));
  }
}

Deno.test("wasm optimizer updates (Adam, AdamW, SGD with momentum / Nesterov, EMA form) are bit-identical to the float32 reference", async () => {
  await onWasm(async (be) => {
    const bits = (x: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(x).buffer));
    for (const n of SIZES) {
      const p0 = randomArray(n, n + 1, -1, 1), g = randomArray(n, n + 2, -0.1, 0.1);
      const m0 = randomArray(n, n + 3, -0.01, 0.01), v0 = randomArray(n, n + 4, 0, 1e-3);
      const buffers = () => {
        const mk = (d: Float32Array) => {
          const b = be.alloc(n * 4);
          be.upload(b, d);
          return b;
        };
        return { p: mk(p0), g: mk(g), m: mk(m0), v: mk(v0) };
      };
      const read = async (b: ReturnType<typeof be.alloc>) => new Float32Array(await be.read(b, n * 4));
      for (const decoupled of [false, true]) {
        const o = { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01, step: 3, decoupled };
        const p = p0.slice(), m = m0.slice(), v = v0.slice();
        const { stepSize, bc2 } = refAdam(p, g, m, v, o);
        const d = buffers();
        be.optimizerStep({
          kind: "adam",
          param: d.p,
          grad: d.g,
          state: [d.m, d.v],
          n,
          args: {
            lr: o.lr,
            beta1: o.b1,
            beta2: o.b2,
            eps: o.eps,
            weightDecay: o.wd,
            stepSize,
            biasCorrection2Sqrt: bc2,
            decoupled,
          },
        });
        assert.deepEqual(bits(await read(d.p)), bits(p), `adam decoupled=${decoupled} n=${n} p`);
        assert.deepEqual(bits(await read(d.m)), bits(m), `adam m n=${n}`);
        assert.deepEqual(bits(await read(d.v)), bits(v), `adam v n=${n}`);
      }
      const sgdCases = [
        { lr: 0.1, wd: 0.01, mom: 0.9, damp: 0.1, first: false, nesterov: false, state: true },
        { lr: 0.1, wd: 0, mom: 0.9, damp: 0, first: true, nesterov: true, state: true },
        // The EMA form: shadow ← shadow − (−(1 − d))·(param + (−1)·shadow).
        { lr: -(1 - 0.999), wd: -1, mom: 0, damp: 0, first: false, nesterov: false, state: false },
      ];
      for (const o of sgdCases) {
        const p = p0.slice(), buf = o.state ? m0.slice() : null;
        refSgd(p, g, buf, o);
        const d = buffers();
        be.optimizerStep({
          kind: "sgd",
          param: d.p,
          grad: d.g,
          state: o.state ? [d.m] : [],
          n,
          args: {
            lr: o.lr,
            weightDecay: o.wd,
            momentum: o.mom,
            dampening: o.damp,
            nesterov: o.nesterov,
            firstStep: o.first,
          },
        });
        assert.deepEqual(bits(await read(d.p)), bits(p), `sgd ${JSON.stringify(o)} n=${n} p`);
        if (buf) assert.deepEqual(bits(await read(d.m)), bits(buf), `sgd buf n=${n}`);
      }
    }
  });
});

Deno.test("wasm Philox draws match the plain-TS generator (uniform, normal, randint) across chunks", async () => {
  await onWasm(async () => {
    // [7, 3001]: 21007 values, several chunks on 2 threads; sample offset and step in the counter.
    const shape = [7, 3001], n = 7 * 3001, o = { seed: 5, stream: "test/philox", step: 3, sampleOffset: 11 };
    const key: [number, number] = [5, T.streamId("test/philox")];
    const words = (i: number) => T.philox4x32([i % 3001, 11 + Math.floor(i / 3001), 3, 0], key);
    const f = Math.fround;
    const u = await T.rand(shape, o, -2, 3).data();
    const g = await T.randn(shape, o, 0.5, 2).data();
    const r = await T.randint(shape, o, -7, 1000).data();
    for (let i = 0; i < n; i++) {
      const [c0, c1] = words(i);
      const u0 = f(T.toUnit(c0)), u1 = f(T.toUnit(c1));
      assert.equal(u[i], f(-2 + f(5 * u0)), `uniform ${i}`);
      const normal = 0.5 + 2 * Math.sqrt(-2 * Math.log(u0)) * Math.cos(2 * Math.PI * u1);
      assert.ok(
        Math.abs(g[i] - normal) <= 1e-6 * Math.max(1, Math.abs(normal)),
        `normal ${i}: ${g[i]} vs ${normal}`,
      );
      assert.equal(r[i], Math.floor(f(-7 + f(1007 * u0))), `randint ${i}`);
    }
  });
});

Deno.test("wasm sums over rows and columns match a double-precision reference on odd and multi-chunk shapes", async () => {
  await onWasm(async () => {
    for (const shape of [[1], [3, 5], [257, 1031], [7, 33, 129], [40, 2000, 3]]) {
      const n = shape.reduce((a, b) => a * b, 1), x = randomArray(n, n, -1, 2);
      for (let axis = 0; axis < shape.length; axis++) {
        const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1), R = shape[axis];
        const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
        const want = new Float64Array(outer * inner);
        for (let o = 0; o < outer; o++) {
          for (let r = 0; r < R; r++) {
            for (let i = 0; i < inner; i++) want[o * inner + i] += x[(o * R + r) * inner + i];
          }
        }
        const got = await T.sum(T.tensor(x, shape), [axis]).data();
        assertClose(got, want, 1e-6, 1e-6, `sum [${shape}] axis ${axis}`);
      }
    }
  });
});

Deno.test("wasm nearest upsampling forward and backward match the TS reference across chunks and scales", async () => {
  await onWasm(async () => {
    for (
      const [shape, s] of [[[3, 5, 7, 9, 11], [2, 2, 2]], [[1, 2, 5, 4, 3], [3, 1.5, 2]]] as [
        number[],
        number[],
      ][]
    ) {
      const [B, C, D, H, W] = shape, O = [D, H, W].map((d, i) => Math.floor(d * s[i]));
      const n = B * C * D * H * W, m = B * C * O[0] * O[1] * O[2];
      const x = randomArray(n, 31), g = randomArray(m, 32);
      // Source of each output voxel; the backward adds each output gradient at its source.
      const want = new Float32Array(m), dx = new Float64Array(n);
      let k = 0;
      for (let bc = 0; bc < B * C; bc++) {
        for (let od = 0; od < O[0]; od++) {
          for (let oh = 0; oh < O[1]; oh++) {
            for (let ow = 0; ow < O[2]; ow++, k++) {
              const src = (o: number, i: number, size: number) =>
                Math.min(Math.floor(Math.fround(o * Math.fround(1 / s[i]))), size - 1);
              const at = ((bc * D + src(od, 0, D)) * H + src(oh, 1, H)) * W + src(ow, 2, W);
              want[k] = x[at];
              dx[at] += g[k];
            }
          }
        }
      }
      const xt = T.tensor(x, shape).requireGrad();
      const y = T.upsampleNearest3d(xt, s);
      assert.deepEqual(Array.from(await y.data()), Array.from(want), `nearest [${shape}] x${s}`);
      T.sum(T.mul(y, T.tensor(g, y.shape))).backward();
      assertClose(await xt.grad!.data(), dx, 1e-5, 1e-6, `nearest grad [${shape}] x${s}`);
    }
  });
});

/** Fused vs composed attention (outputs and all three gradients) on the active backend. */
async function assertFusedAttentionMatches(shape: number[], scale: number, seed: number, what: string) {
  const [B, H, Tq, Tk, d, dv] = shape;
  const shapes = [[B, H, Tq, d], [B, H, Tk, d], [B, H, Tk, dv]];
  const vals = shapes.map((s, i) => randomArray(s.reduce((a, b) => a * b), seed + i));
  const g = randomArray(B * H * Tq * dv, seed + 3);
  const run = async () => {
    const ts = shapes.map((s, i) => T.tensor(vals[i], s).requireGrad());
    const o = T.attention(ts[0], ts[1], ts[2], scale);
    T.sum(T.mul(o, T.tensor(g, [B, H, Tq, dv]))).backward();
    return [await o.data(), ...(await Promise.all(ts.map((t) => t.grad!.data())))];
  };
  const fused = await run();
  attentionLimits.fused = false;
  try {
    const composed = await run();
    composed.forEach((w, i) => assertClose(fused[i], w, 1e-4, 1e-6, `${what}: fused vs composed ${i}`));
  } finally {
    attentionLimits.fused = true;
  }
}

Deno.test("wasm fused attention (several chunks per head) matches the composed ops, forward and backward", async () => {
  // 2·2 heads of 300 queries × 301 keys, d 16, dv 12: chunks of a few rows, split over both threads.
  await onWasm(() => assertFusedAttentionMatches([2, 2, 300, 301, 16, 12], 0.3, 41, "300 × 301"));
});

Deno.test("wasm fused attention blocks: row tails, key-block tails, head sizes 8-64, dv ≠ d, 1 and 3 threads", async () => {
  // The kernels take 4 rows × 64 columns per step: T ≡ 1, 2, 3 (mod 4), one column past a block, a single
  // odd block; d or dv 4 mod 8 takes the last-four passes; d 6 takes the row-at-a-time loops.
  const cases: [number[], number][] = [
    [[1, 3, 67, 129, 8, 16], 0.35],
    [[2, 1, 130, 65, 16, 12], 0.25],
    [[1, 2, 33, 199, 32, 20], 0.18],
    [[1, 1, 45, 77, 64, 64], 0.125],
    [[1, 2, 21, 19, 64, 8], 0.3],
    [[2, 1, 37, 70, 12, 8], 0.3],
    [[1, 2, 11, 13, 6, 10], 0.4],
  ];
  for (const threads of [1, 3]) {
    await onWasm(async () => {
      for (const [i, [shape, scale]] of cases.entries()) {
        await assertFusedAttentionMatches(shape, scale, 100 + 5 * i, `${threads} threads [${shape}]`);
      }
    }, threads);
  }
});

Deno.test("wasm small convolutions split over 1, 2 and 3 threads match the TS reference", async () => {
  // 1 thread: every case in one chunk; 2: blocks of 6-row tiles; 3: ragged splits of M and N.
  for (const threads of [1, 2, 3]) {
    await onWasm(async () => {
      for (const [i, c] of SMALL_CONV_CASES.entries()) {
        await assertConvMatchesRef(c, 60 + 4 * i, `${threads} threads: `);
      }
    }, threads);
  }
});
