/**
 * Max / average pooling against a plain-TS reference that enumerates PyTorch's windows, in every output-size
 * corner: floor and ceil mode, padding, inputs shorter than the kernel (ceil mode), the dropped window that would
 * start in the right padding, count_include_pad; plus finite-difference gradchecks of those corners.
 */
import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { poolOutputSize } from "../../../tensor/ops/pool.ts";
import { assertClose, randomArray } from "../_helpers.ts";

await T.init();

type Kind = "max" | "avg";

/**
 * Window starts along one axis, in padded coordinates, by PyTorch's definition: floor mode keeps the windows that
 * fit the padded input; ceil mode also keeps a window that overhangs the padded end by less than one stride, but
 * never one that starts in the right padding.
 */
function refStarts(len: number, k: number, s: number, p: number, ceil: boolean): number[] {
  const starts: number[] = [];
  for (let o = 0;; o++) {
    const st = o * s;
    const fits = st + k <= len + 2 * p;
    const overhangs = ceil && st + k < len + 2 * p + s && st - p < len;
    if (!fits && !overhangs) break;
    starts.push(st);
  }
  return starts;
}

interface Case {
  kind: Kind;
  shape: number[]; // [B, C, ...spatial] (2 or 3 spatial axes)
  k: number;
  s: number;
  p: number;
  ceil: boolean;
  includePad?: boolean;
}

/** Reference pooling over any number of spatial axes (windows clipped to the input; PyTorch's divisors). */
function refPool(c: Case, x: Float32Array): { out: number[]; y: Float32Array } {
  const sp = c.shape.slice(2), n = sp.length;
  const starts = sp.map((L) => refStarts(L, c.k, c.s, c.p, c.ceil));
  const out = starts.map((st) => st.length);
  const planes = c.shape[0] * c.shape[1], inVol = sp.reduce((a, b) => a * b, 1);
  const outVol = out.reduce((a, b) => a * b, 1);
  const y = new Float32Array(planes * outVol);
  for (let bc = 0; bc < planes; bc++) {
    for (let oi = 0; oi < outVol; oi++) {
      // Per axis: the window [lo, hi) in input coordinates, and PyTorch's divisor span (clipped to input + pad).
      const lo: number[] = [], hi: number[] = [];
      let padSpan = 1;
      let rest = oi;
      const idx = new Array(n);
      for (let a = n - 1; a >= 0; a--) {
        idx[a] = rest % out[a];
        rest = Math.floor(rest / out[a]);
      }
      for (let a = 0; a < n; a++) {
        const st = starts[a][idx[a]] - c.p, en = Math.min(st + c.k, sp[a] + c.p);
        padSpan *= en - st;
        lo.push(Math.max(st, 0));
        hi.push(Math.min(en, sp[a]));
      }
      let best = -Infinity, acc = 0, cnt = 0;
      const pos = [...lo];
      for (;;) {
        let flat = 0;
        for (let a = 0; a < n; a++) flat = flat * sp[a] + pos[a];
        const v = x[bc * inVol + flat];
        best = Math.max(best, v);
        acc += v;
        cnt++;
        let a = n - 1;
        while (a >= 0 && ++pos[a] >= hi[a]) pos[a] = lo[a--];
        if (a < 0) break;
      }
      y[bc * outVol + oi] = c.kind === "max" ? best : acc / ((c.includePad ?? true) ? padSpan : cnt);
    }
  }
  return { out, y };
}

function run(c: Case, x: T.Tensor): T.Tensor {
  const opts = { padding: c.p, ceilMode: c.ceil, countIncludePad: c.includePad };
  const n = c.shape.length - 2;
  if (c.kind === "max") return (n === 2 ? T.maxPool2d : T.maxPool3d)(x, c.k, c.s, opts);
  return (n === 2 ? T.avgPool2d : T.avgPool3d)(x, c.k, c.s, opts);
}

const name = (c: Case) =>
  `${c.kind}Pool${c.shape.length - 2}d [${c.shape}] k${c.k} s${c.s} p${c.p}${c.ceil ? " ceil" : ""}${
    c.includePad === false ? " excl-pad" : ""
  }`;

const corners: Case[] = [
  // LPIPS on a thin slice: the third SqueezeNet pool sees a 2×4 map; PyTorch returns [1, 2].
  { kind: "max", shape: [1, 2, 2, 4], k: 3, s: 2, p: 0, ceil: true },
  // 9 with k3 s2 ceil: 4 windows, not 5 (a fifth would start beyond the last floor start + stride − 1).
  { kind: "max", shape: [2, 1, 9, 8], k: 3, s: 2, p: 0, ceil: true },
  { kind: "max", shape: [2, 3, 8, 11], k: 3, s: 2, p: 0, ceil: true },
  { kind: "max", shape: [2, 3, 8, 11], k: 3, s: 2, p: 1, ceil: false },
  // Length 5, k2 s2 p1 ceil: the 4th window would start in the right padding and is dropped → 3.
  { kind: "max", shape: [1, 2, 5, 5], k: 2, s: 2, p: 1, ceil: true },
  { kind: "avg", shape: [1, 2, 5, 5], k: 2, s: 2, p: 1, ceil: true },
  { kind: "avg", shape: [1, 2, 5, 6], k: 3, s: 2, p: 1, ceil: true, includePad: false },
  { kind: "avg", shape: [1, 1, 2, 4], k: 3, s: 2, p: 0, ceil: true },
  { kind: "max", shape: [1, 1, 1, 3], k: 3, s: 1, p: 1, ceil: false },
  { kind: "max", shape: [1, 2, 2, 3, 4], k: 3, s: 2, p: 0, ceil: true },
  { kind: "avg", shape: [1, 2, 4, 5, 3], k: 2, s: 2, p: 0, ceil: false },
  { kind: "avg", shape: [1, 2, 5, 4, 3], k: 3, s: 2, p: 1, ceil: true },
  { kind: "avg", shape: [1, 2, 5, 4, 3], k: 3, s: 2, p: 1, ceil: true, includePad: false },
  { kind: "max", shape: [1, 2, 4, 5, 3], k: 2, s: 1, p: 0, ceil: false },
];

Deno.test("poolOutputSize follows PyTorch's rule (values worked out by hand from pooling_output_shape)", () => {
  // [len, kernel, stride, pad, ceil, expected]
  const table: [number, number, number, number, boolean, number][] = [
    [2, 3, 2, 0, true, 1], // input shorter than the kernel: ceil mode still yields one window
    [4, 3, 2, 0, true, 2],
    [2, 3, 2, 0, false, 0], // floor mode: too small
    [1, 3, 2, 0, true, 0], // ⌊(1 − 3 + 1)/2⌋ + 1 = 0: too small even in ceil mode
    [9, 3, 2, 0, true, 4],
    [8, 3, 2, 0, true, 4],
    [5, 2, 2, 1, true, 3], // 4th window would start in the right padding
    [5, 2, 2, 1, false, 3],
    [6, 3, 2, 1, true, 4],
    [6, 3, 2, 1, false, 3],
    [17, 3, 2, 0, true, 8],
    [1, 3, 1, 1, false, 1],
  ];
  for (const [L, k, s, p, ceil, want] of table) {
    assert.equal(poolOutputSize(L, k, s, p, ceil), want, `L${L} k${k} s${s} p${p} ceil ${ceil}`);
    assert.equal(refStarts(L, k, s, p, ceil).length, want, `reference L${L} k${k} s${s} p${p} ceil ${ceil}`);
  }
  // Every small geometry: the op's closed form agrees with the window enumeration (≤ 0 means "too small").
  for (let L = 1; L <= 12; L++) {
    for (let k = 1; k <= 4; k++) {
      for (let s = 1; s <= 3; s++) {
        for (let p = 0; 2 * p <= k; p++) {
          for (const ceil of [false, true]) {
            assert.equal(
              Math.max(poolOutputSize(L, k, s, p, ceil), 0),
              refStarts(L, k, s, p, ceil).length,
              `L${L} k${k} s${s} p${p} ceil ${ceil}`,
            );
          }
        }
      }
    }
  }
});

Deno.test("max / avg pooling 2-D and 3-D match the window-enumerating reference in every corner", async () => {
  for (const [i, c] of corners.entries()) {
    const size = c.shape.reduce((a, b) => a * b, 1), x = randomArray(size, 10 + i);
    const want = refPool(c, x);
    const y = run(c, T.tensor(x, c.shape));
    assert.deepEqual([...y.shape], [...c.shape.slice(0, 2), ...want.out], name(c));
    assertClose(await y.data(), want.y, 1e-6, 1e-7, name(c));
    y.dispose();
  }
});

Deno.test("pooling gradients pass gradcheck in the corners (thin ceil-mode input, dropped window, padding)", async () => {
  for (const [i, c] of corners.entries()) {
    if (c.shape.reduce((a, b) => a * b, 1) > 80) continue;
    const size = c.shape.reduce((a, b) => a * b, 1);
    const r = await T.gradcheck((t) => run(c, t), [randomArray(size, 40 + i)], [c.shape], {
      eps: 1e-3,
      maxProbes: 16,
    });
    assert.ok(r.maxRelError < 2e-3, `${name(c)}: gradcheck ${r.maxRelError}`);
  }
});

Deno.test("pooling rejects a too-small output and over-large padding with the geometry in the message", () => {
  assert.throws(
    () => T.maxPool2d(T.zeros([1, 1, 2, 2]), 3),
    /maxPool2d: output size \[0,0\] is too small: kernel \[3,3\], stride \[3,3\], padding \[0,0\] on input \[2,2\]/,
  );
  assert.throws(
    () => T.maxPool2d(T.zeros([1, 1, 1, 4]), 3, 2, { ceilMode: true }),
    /maxPool2d: output size \[0,2\] is too small.*ceil mode on input \[1,4\]/,
  );
  assert.throws(() => T.avgPool3d(T.zeros([1, 1, 4, 4, 4]), 2, 2, { padding: 2 }), /at most half the kernel/);
});
