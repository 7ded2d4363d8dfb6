/**
 * Spacing (resampling) at target spacings and input geometries the fixtures do not cover, against a plain-TS
 * transcription of the rules the spacing fixture's notes state: output length round_half_even((n − 1)·s_in/s_out + 1),
 * affine columns rescaled to s_out keeping their direction and the origin, output voxel j sampling the input at
 * index j·s_out/s_in clamped to [0, n − 1] (border padding), trilinear in float64, cast to float32.
 */
import assert from "node:assert/strict";
import { spacing } from "../../data/mod.ts";
import { makeVolume } from "../../data/volume.ts";
import { randomArray } from "../nn/_helpers.ts";

interface Geometry {
  shape: [number, number, number, number]; // C, X, Y, Z
  /** Signed voxel sizes on the diagonal (a negative one flips the axis, e.g. LPS). */
  diag: [number, number, number];
  origin: [number, number, number];
  target: [number, number, number];
}

/** numpy round: half to even; refuses lengths within 0.02 of a tie, where float noise could decide. */
function roundHalfEven(v: number): number {
  const f = v - Math.floor(v);
  assert.ok(Math.abs(f - 0.5) > 0.02, `test geometry too close to a rounding tie (${v})`);
  return Math.round(v);
}

function refSpacing(g: Geometry, x: Float32Array) {
  const [C, ...n] = g.shape;
  const sIn = g.diag.map(Math.abs);
  const out = n.map((len, a) => roundHalfEven((len - 1) * sIn[a] / g.target[a] + 1));
  const affine = [0, 1, 2].map((r) =>
    [0, 1, 2].map((c) => (r === c ? Math.sign(g.diag[r]) * g.target[r] : 0))
  );
  affine.forEach((row, r) => row.push(g.origin[r]));
  affine.push([0, 0, 0, 1]);
  const taps = out.map((len, a) =>
    Array.from({ length: len }, (_, j) => {
      const c = Math.min(Math.max(j * g.target[a] / sIn[a], 0), n[a] - 1), f = Math.floor(c);
      return [f, Math.min(f + 1, n[a] - 1), c - f] as const;
    })
  );
  const y = new Float32Array(C * out[0] * out[1] * out[2]);
  let k = 0;
  for (let ch = 0; ch < C; ch++) {
    const at = (i: number, j: number, l: number) => x[((ch * n[0] + i) * n[1] + j) * n[2] + l];
    for (const [i0, i1, wi] of taps[0]) {
      for (const [j0, j1, wj] of taps[1]) {
        for (const [l0, l1, wl] of taps[2]) {
          let v = 0;
          for (const [i, a] of [[i0, 1 - wi], [i1, wi]]) {
            for (const [j, b] of [[j0, 1 - wj], [j1, wj]]) {
              for (const [l, c] of [[l0, 1 - wl], [l1, wl]]) v += a * b * c * at(i, j, l);
            }
          }
          y[k++] = v;
        }
      }
    }
  }
  return { shape: [C, ...out], affine, y };
}

const geometries: Geometry[] = [
  // Coarser target: fewer voxels, last sample inside the input.
  { shape: [1, 17, 12, 9], diag: [1, 1, 1], origin: [3, -4, 5], target: [1.5, 1.5, 1.5] },
  // Anisotropic input and target, LPS flips, two channels; the thick axis is upsampled and border-clamped.
  { shape: [2, 11, 13, 6], diag: [-0.9, -1.2, 2.4], origin: [10, 20, -7], target: [0.8, 1.3, 1.1] },
  // Finer target than input everywhere (upsampling), odd sizes.
  { shape: [1, 7, 5, 9], diag: [2, 1.7, 1.25], origin: [0, 0, 0], target: [0.7, 0.9, 1.1] },
];

Deno.test("spacing at other target spacings and geometries matches the transcription of the reference rules", () => {
  for (const [gi, g] of geometries.entries()) {
    const n = g.shape.reduce((a, b) => a * b, 1), x = randomArray(n, 60 + gi, -50, 200);
    const affine = [0, 1, 2].map((r) => [...[0, 1, 2].map((c) => (r === c ? g.diag[r] : 0)), g.origin[r]]);
    affine.push([0, 0, 0, 1]);
    const out = spacing(g.target).apply(makeVolume(x, g.shape, affine));
    const ref = refSpacing(g, x);
    const what = `geometry ${gi} (${g.shape} at ${g.diag} → ${g.target})`;
    assert.deepEqual(out.shape, ref.shape, `${what}: shape`);
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++) {
        assert.ok(Math.abs(out.affine[r][c] - ref.affine[r][c]) < 1e-9, `${what}: affine[${r}][${c}]`);
      }
    }
    for (let i = 0; i < ref.y.length; i++) {
      if (Math.abs(out.data[i] - ref.y[i]) > 1e-5 * 200) {
        assert.fail(`${what}: voxel ${i} is ${out.data[i]}, expected ${ref.y[i]}`);
      }
    }
  }
});
