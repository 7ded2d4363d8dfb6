/** Spatial crops and padding: centre crop, random crop (numpy legacy stream), symmetric pad. */
import { MT19937 } from "../mt19937.ts";
import { type Affine, spacingOf, type Volume } from "../volume.ts";
import type { Transform } from "./transform.ts";

/** Copies the box `[start, start + size)` of every channel; the affine moves its origin to `start`. */
export function cropBox(v: Volume, start: readonly number[], size: readonly number[]): Volume {
  const [nc, nx, ny, nz] = v.shape;
  const [sx, sy, sz] = start, [ex, ey, ez] = size;
  if (sx < 0 || sy < 0 || sz < 0 || sx + ex > nx || sy + ey > ny || sz + ez > nz) {
    throw new Error(`crop: box start [${start}] size [${size}] does not fit in [${nx}, ${ny}, ${nz}]`);
  }
  const out = new Float32Array(nc * ex * ey * ez);
  let d = 0;
  for (let c = 0; c < nc; c++) {
    for (let x = 0; x < ex; x++) {
      for (let y = 0; y < ey; y++) {
        const s = ((c * nx + sx + x) * ny + sy + y) * nz + sz;
        out.set(v.data.subarray(s, s + ez), d);
        d += ez;
      }
    }
  }
  const affine = shiftOrigin(v.affine, start);
  return { data: out, shape: [nc, ex, ey, ez], affine, spacing: spacingOf(affine) };
}

function shiftOrigin(a: Affine, start: readonly number[]): Affine {
  const out = a.map((r) => r.slice());
  for (let r = 0; r < 3; r++) {
    out[r][3] = a[r][3] + a[r][0] * start[0] + a[r][1] * start[1] + a[r][2] * start[2];
  }
  return out;
}

/** Centre-crop start and size per axis (MONAI CenterSpatialCrop): start = max(n//2 - roi//2, 0), end clipped to n. */
export function centerCropBox(
  shape: readonly number[],
  roi: readonly number[],
): { start: number[]; size: number[] } {
  const start: number[] = [], size: number[] = [];
  for (let a = 0; a < 3; a++) {
    const n = shape[a], r = roi[a] > 0 ? roi[a] : n;
    const s = Math.max(Math.floor(n / 2) - Math.floor(r / 2), 0);
    start.push(s);
    size.push(Math.min(s + r, n) - s);
  }
  return { start, size };
}

/** Centre crop to `roi` (`[C, X, Y, Z] → [C, ≤roi]`); an roi larger than an axis keeps the whole axis, no padding. */
export function centerSpatialCrop(roi: readonly [number, number, number]): Transform {
  return {
    name: "centerSpatialCrop",
    params: { roi: [...roi] },
    random: false,
    apply(v: Volume): Volume {
      const { start, size } = centerCropBox(v.shape.slice(1), roi);
      return cropBox(v, start, size);
    },
  };
}

/**
 * Random crop starts as MONAI RandSpatialCrop (random_size=False) draws them: per axis x, y, z,
 * `R.randint(0, n - roi + 1)` if n > roi, else 0 without consuming a draw.
 */
export function randomCropStart(rng: MT19937, shape: readonly number[], roi: readonly number[]): number[] {
  const start: number[] = [];
  for (let a = 0; a < 3; a++) {
    const n = shape[a], r = Math.min(roi[a] > 0 ? roi[a] : n, n);
    start.push(n > r ? rng.randint(0, n - r + 1) : 0);
  }
  return start;
}

/** Random spatial crop to `roi` with its own numpy-legacy MT19937 stream seeded by `seed` (one draw set per call). */
export function randSpatialCrop(
  roi: readonly [number, number, number],
  seed: number,
): Transform & { rng: MT19937 } {
  const rng = new MT19937(seed);
  return {
    name: "randSpatialCrop",
    params: { roi: [...roi], seed },
    random: true,
    rng,
    apply(v: Volume): Volume {
      const shape = v.shape.slice(1);
      const start = randomCropStart(rng, shape, roi);
      const size = shape.map((n, a) => Math.min(roi[a] > 0 ? roi[a] : n, n));
      return cropBox(v, start, size);
    },
  };
}

/** Symmetric zero padding up to `roi` (MONAI SpatialPad, method "symmetric"); axes already ≥ roi are unchanged. */
export function spatialPad(roi: readonly [number, number, number], value = 0): Transform {
  return {
    name: "spatialPad",
    params: { roi: [...roi], value },
    random: false,
    apply(v: Volume): Volume {
      const [nc, nx, ny, nz] = v.shape;
      const n = [nx, ny, nz];
      const out = n.map((s, a) => Math.max(s, roi[a]));
      const before = n.map((s, a) => Math.floor((out[a] - s) / 2));
      const data = new Float32Array(nc * out[0] * out[1] * out[2]).fill(value);
      for (let c = 0; c < nc; c++) {
        for (let x = 0; x < nx; x++) {
          for (let y = 0; y < ny; y++) {
            const s = ((c * nx + x) * ny + y) * nz;
            const d = ((c * out[0] + x + before[0]) * out[1] + y + before[1]) * out[2] + before[2];
            data.set(v.data.subarray(s, s + nz), d);
          }
        }
      }
      const affine = shiftOrigin(v.affine, before.map((b) => -b));
      return { data, shape: [nc, out[0], out[1], out[2]], affine, spacing: spacingOf(affine) };
    },
  };
}

/** Centre crop then symmetric pad, so every axis ends exactly at `roi` (MONAI ResizeWithPadOrCrop). */
export function centerCropOrPad(roi: readonly [number, number, number]): Transform {
  const crop = centerSpatialCrop(roi), pad = spatialPad(roi);
  return {
    name: "centerCropOrPad",
    params: { roi: [...roi] },
    random: false,
    apply: (v: Volume): Volume => pad.apply(crop.apply(v)),
  };
}
