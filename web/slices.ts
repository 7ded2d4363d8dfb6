/// <reference lib="dom" />
/** Three orthogonal mid-slices of a volume drawn as grey-scale images (RAS: right, anterior and superior up/right). */
import type { SampledVolume } from "../recipe/sampling.ts";

/** The plane a slice lies in. */
export type SlicePlane = "axial" | "coronal" | "sagittal";

/** Draws the mid-slice of `volume` in `plane` into `canvas` (one canvas pixel per voxel), windowed to [lo, hi]. */
export function drawMidSlice(
  canvas: HTMLCanvasElement,
  volume: SampledVolume,
  plane: SlicePlane,
  lo: number,
  hi: number,
): void {
  const [X, Y, Z] = volume.shape;
  const at = (x: number, y: number, z: number) => volume.data[(x * Y + y) * Z + z];
  // Columns run along the first in-plane axis, rows along the second, flipped so "up" is + (anterior/superior).
  const [w, h, value] = plane === "axial"
    ? [X, Y, (c: number, r: number) => at(c, Y - 1 - r, Z >> 1)]
    : plane === "coronal"
    ? [X, Z, (c: number, r: number) => at(c, Y >> 1, Z - 1 - r)]
    : [Y, Z, (c: number, r: number) => at(X >> 1, c, Z - 1 - r)];
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const img = ctx.createImageData(w, h);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const g = Math.max(0, Math.min(255, Math.round((value(c, r) - lo) * scale)));
      const p = 4 * (r * w + c);
      img.data[p] = img.data[p + 1] = img.data[p + 2] = g;
      img.data[p + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

/** The 1st and 99th percentiles of the data: a display window robust to a few extreme voxels. */
export function displayWindow(data: Float32Array): [number, number] {
  const sorted = Float32Array.from(data).sort();
  const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * (sorted.length - 1)))];
  return [q(0.01), q(0.99)];
}
