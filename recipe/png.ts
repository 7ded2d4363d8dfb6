/**
 * A small PNG encoder (8-bit grey or RGB; zlib from fflate, so it also runs in a page) and a preview helper that
 * puts the three orthogonal mid-slices of a volume side by side.
 *
 * @module
 */
import { zlibSync } from "fflate";

/** CRC32 (ISO-HDLC, as PNG and ZIP use): the one implementation lives with the ZIP reader. */
export { crc32 } from "../nn/serialization/zip.ts";
import { crc32 } from "../nn/serialization/zip.ts";

const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes row-major 8-bit pixels (`channels` 1 = grey, 3 = RGB, interleaved) of `width × height` as a
 * PNG. Rows use filter 1 (Sub), which compresses smooth images well at no cost.
 */
export function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 = 1,
): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`encodePng: bad size ${width}×${height}`);
  }
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new RangeError(
      `encodePng: ${pixels.length} bytes for ${width}×${height}×${channels} (needs ${stride * height})`,
    );
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // colour type: grey / truecolour
  // compression 0, filter method 0, interlace 0
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    const row = y * stride;
    raw[o] = 1; // Sub filter
    for (let x = 0; x < stride; x++) {
      const left = x >= channels ? pixels[row + x - channels] : 0;
      raw[o + 1 + x] = (pixels[row + x] - left) & 0xff;
    }
  }
  const idat = zlibSync(raw, { level: 6 }); // the level node:zlib uses by default
  const parts = [PNG_SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** How intensities map to grey: a fixed range, the volume's min–max, or percentiles (0–100). */
export type IntensityWindow = "unit" | "minmax" | [number, number] | { percentiles: [number, number] };

/** Options for {@link volumeSlices} / {@link volumeSlicesPng}. */
export interface VolumeSlicesOptions {
  /** Intensity window (default "unit" = [0, 1], clipped). */
  window?: IntensityWindow;
  /** Voxel indices [x, y, z] of the slices (default the centre, `floor(n / 2)`). */
  index?: [number, number, number];
  /** Black pixels between panels (default 2). */
  gap?: number;
  /** Integer nearest-neighbour magnification (default 1). */
  upscale?: number;
}

/** An 8-bit grey image (row-major). */
export interface GreyImage {
  /** Pixels, `width * height` bytes. */
  pixels: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Linear-interpolated percentile (0–100) of a sorted array. */
function percentileSorted(sorted: Float32Array, p: number): number {
  const pos = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function resolveWindow(data: Float32Array, window: IntensityWindow): [number, number] {
  if (window === "unit") return [0, 1];
  if (Array.isArray(window)) return window;
  // At most ~1M samples (strided) so a large volume stays cheap.
  const step = Math.max(1, Math.floor(data.length / 1_000_000));
  const sample = new Float32Array(Math.ceil(data.length / step));
  let n = 0;
  for (let i = 0; i < data.length; i += step) if (Number.isFinite(data[i])) sample[n++] = data[i];
  if (n === 0) return [0, 1];
  const finite = sample.subarray(0, n);
  if (window === "minmax") {
    let lo = Infinity, hi = -Infinity;
    for (const v of finite) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }
  finite.sort();
  return [percentileSorted(finite, window.percentiles[0]), percentileSorted(finite, window.percentiles[1])];
}

/**
 * Renders the three orthogonal slices of a volume side by side: axial | coronal | sagittal.
 *
 * `data` is `[X, Y, Z]` row-major (Z fastest), assumed RAS-oriented (as after the pipeline's
 * orientation transform: +x = patient right, +y = anterior, +z = superior) with isotropic voxels.
 * Orientation is radiological: axial (slice z) shows patient right on the viewer's left and anterior
 * at the top; coronal (slice y) patient right on the left and superior at the top; sagittal (slice x)
 * anterior on the left and superior at the top. Panels are top-aligned, padded with black.
 */
export function volumeSlices(
  data: Float32Array,
  shape: [number, number, number],
  options: VolumeSlicesOptions = {},
): GreyImage {
  const [X, Y, Z] = shape;
  if (data.length !== X * Y * Z) {
    throw new RangeError(`volumeSlices: ${data.length} values for shape [${shape.join(", ")}]`);
  }
  const [ix, iy, iz] = options.index ?? [X >> 1, Y >> 1, Z >> 1];
  if (ix < 0 || ix >= X || iy < 0 || iy >= Y || iz < 0 || iz >= Z) {
    throw new RangeError(`volumeSlices: index [${ix}, ${iy}, ${iz}] outside [${shape.join(", ")}]`);
  }
  const gap = options.gap ?? 2;
  const up = Math.max(1, Math.floor(options.upscale ?? 1));
  const [lo, hi] = resolveWindow(data, options.window ?? "unit");
  const scale = hi > lo ? 1 / (hi - lo) : 0;
  const grey = (v: number): number => {
    if (!(v === v)) return 0; // NaN
    const t = (v - lo) * scale;
    return t <= 0 ? 0 : t >= 1 ? 255 : Math.round(t * 255);
  };
  const at = (x: number, y: number, z: number): number => data[(x * Y + y) * Z + z];

  // Each panel: width, height, value(col,row).
  const panels: { w: number; h: number; value: (c: number, r: number) => number }[] = [
    { w: X, h: Y, value: (c, r) => at(X - 1 - c, Y - 1 - r, iz) }, // axial
    { w: X, h: Z, value: (c, r) => at(X - 1 - c, iy, Z - 1 - r) }, // coronal
    { w: Y, h: Z, value: (c, r) => at(ix, Y - 1 - c, Z - 1 - r) }, // sagittal
  ];
  const width = (panels.reduce((n, p) => n + p.w, 0) + gap * (panels.length - 1)) * up;
  const height = Math.max(...panels.map((p) => p.h)) * up;
  const pixels = new Uint8Array(width * height);
  let x0 = 0;
  for (const p of panels) {
    for (let r = 0; r < p.h; r++) {
      for (let c = 0; c < p.w; c++) {
        const g = grey(p.value(c, r));
        for (let dy = 0; dy < up; dy++) {
          const row = (r * up + dy) * width + x0 + c * up;
          for (let dx = 0; dx < up; dx++) pixels[row + dx] = g;
        }
      }
    }
    x0 += (p.w + gap) * up;
  }
  return { pixels, width, height };
}

/** {@link volumeSlices} encoded as a grey PNG, with its size (for `TfEventWriter.addImage`). */
export function volumeSlicesPng(
  data: Float32Array,
  shape: [number, number, number],
  options: VolumeSlicesOptions = {},
): { png: Uint8Array; width: number; height: number } {
  const img = volumeSlices(data, shape, options);
  return { png: encodePng(img.pixels, img.width, img.height, 1), width: img.width, height: img.height };
}

/** Stacks grey images vertically (left-aligned, `gap` black rows between), e.g. one row per volume. */
export function stackImages(images: GreyImage[], gap = 2): GreyImage {
  if (images.length === 0) throw new Error("stackImages: no images");
  const width = Math.max(...images.map((i) => i.width));
  const height = images.reduce((h, i) => h + i.height, 0) + gap * (images.length - 1);
  const pixels = new Uint8Array(width * height);
  let y0 = 0;
  for (const img of images) {
    for (let y = 0; y < img.height; y++) {
      pixels.set(img.pixels.subarray(y * img.width, (y + 1) * img.width), (y0 + y) * width);
    }
    y0 += img.height + gap;
  }
  return { pixels, width, height };
}

/** One PNG with a row of three mid-slices per volume (all the same shape), windowed jointly to [lo, hi]. */
export function volumeRowsPng(
  volumes: Float32Array[],
  shape: [number, number, number],
  options: VolumeSlicesOptions = {},
): Uint8Array {
  let lo = Infinity, hi = -Infinity;
  for (const v of volumes) {
    for (const x of v) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  const window = options.window ?? ([lo, hi > lo ? hi : lo + 1] as [number, number]);
  const img = stackImages(volumes.map((v) => volumeSlices(v, shape, { upscale: 2, ...options, window })));
  return encodePng(img.pixels, img.width, img.height, 1);
}
