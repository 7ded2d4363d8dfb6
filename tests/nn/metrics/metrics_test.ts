import assert from "node:assert/strict";
import {
  frechetDistance,
  type HostVolume,
  meanPairwiseMsSsim,
  msSsim3d,
  psnr,
  ssim3d,
  symmetricEigen,
  volumeFeatures,
  volumeFrechetDistance,
} from "../../../nn/metrics/mod.ts";

function vol(seed: number, noise = 0, shape: [number, number, number] = [16, 16, 16]): HostVolume {
  let s = seed;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let x = 0; x < shape[0]; x++) {
    for (let y = 0; y < shape[1]; y++) {
      for (let z = 0; z < shape[2]; z++) {
        const base = 0.5 + 0.4 * Math.sin(x / 3) * Math.cos(y / 4) * Math.sin(z / 5 + 1);
        data[(x * shape[1] + y) * shape[2] + z] = base + noise * (r() - 0.5);
      }
    }
  }
  return { data, shape };
}

Deno.test("PSNR: identical volumes are infinite; known MSE gives the known value", () => {
  const a = vol(1);
  assert.equal(psnr(a, a), Infinity);
  const b = { data: a.data.map((v) => v + 0.1), shape: a.shape };
  assert.ok(Math.abs(psnr(a, b) - 20) < 1e-4);
  assert.throws(() => psnr(a, vol(1, 0, [8, 8, 8])), /shapes/);
});

Deno.test("SSIM / MS-SSIM: 1 for identical volumes, falls with noise, symmetric", () => {
  const a = vol(1), b = vol(2, 0.2), c = vol(3, 0.6);
  assert.ok(Math.abs(ssim3d(a, a) - 1) < 1e-9);
  assert.ok(Math.abs(msSsim3d(a, a) - 1) < 1e-9);
  assert.ok(ssim3d(a, b) > ssim3d(a, c));
  assert.ok(msSsim3d(a, b) > msSsim3d(a, c));
  assert.ok(Math.abs(ssim3d(a, b) - ssim3d(b, a)) < 1e-12);
  const div = meanPairwiseMsSsim([a, b, c]);
  assert.ok(div > 0 && div < 1);
});

Deno.test("Jacobi eigen-decomposition reconstructs a symmetric matrix", () => {
  const m = [[4, 1, 0.5], [1, 3, 0.2], [0.5, 0.2, 1]].map((r) => Float64Array.from(r));
  const { values, vectors } = symmetricEigen(m);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += vectors[i][k] * values[k] * vectors[j][k];
      assert.ok(Math.abs(s - m[i][j]) < 1e-9);
    }
  }
});

Deno.test("Fréchet distance: 0 for identical sets, the closed form for 1-D Gaussians, grows with shift", () => {
  const a = [1, 2, 3, 4, 5].map((v) => Float64Array.from([v]));
  assert.ok(frechetDistance(a, a) < 1e-9);
  const b = [3, 4, 5, 6, 7].map((v) => Float64Array.from([v]));
  assert.ok(Math.abs(frechetDistance(a, b) - 4) < 1e-9); // same variance, mean shift 2
  const c = [1, 3, 5, 7, 9].map((v) => Float64Array.from([v])); // std doubled, mean 5
  // (μ diff 2)² + σa² + σc² − 2σaσc = 4 + 2.5 + 10 − 2·√25 = 6.5
  assert.ok(Math.abs(frechetDistance(a, c) - 6.5) < 1e-9);
  const near = [1, 2, 3, 4].map((s) => vol(s, 0.05)), far = [5, 6, 7, 8].map((s) => vol(s, 0.8));
  const ref = [9, 10, 11, 12].map((s) => vol(s, 0.05));
  assert.ok(volumeFrechetDistance(ref, near) < volumeFrechetDistance(ref, far));
  assert.equal(volumeFeatures(near[0]).length, 16);
});
