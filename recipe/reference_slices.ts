/**
 * Centre slices as the reference logs them to TensorBoard (`visualize_image.py`), so runs overlay with the
 * tutorial's: one image per axis (`<tag>_0/1/2`), the slice `floor(n/2)` along that axis, intensities shifted
 * to start at 0 when negative and divided by the maximum when above 1, ×255 truncated to 8 bits, and shown
 * transposed (the reference's `transpose([2, 1, 0])` of the HWC slice: rows follow the slice's second axis).
 *
 * @module
 */
import { encodePng, type GreyImage } from "./png.ts";

/** The reference's centre slice of a row-major [X, Y, Z] volume along `axis`, as displayed by TensorBoard. */
export function referenceSlice(
  data: Float32Array,
  shape: readonly [number, number, number],
  axis: 0 | 1 | 2,
): GreyImage {
  const [X, Y, Z] = shape;
  if (data.length !== X * Y * Z) {
    throw new RangeError(`referenceSlice: ${data.length} values for shape [${shape.join(", ")}]`);
  }
  const strides = [Y * Z, Z, 1];
  const centre = shape[axis] >> 1;
  // The slice's two remaining axes, in order: a (first) and b (second).
  const [a, b] = [0, 1, 2].filter((d) => d !== axis);
  const na = shape[a], nb = shape[b];
  const slice = new Float32Array(na * nb);
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      slice[i * nb + j] = data[centre * strides[axis] + i * strides[a] + j * strides[b]];
    }
  }
  // normalize_image_to_uint8: shift when the minimum is negative, scale when the maximum exceeds 1.
  let lo = Infinity;
  for (const v of slice) lo = Math.min(lo, v);
  if (lo < 0) { for (let k = 0; k < slice.length; k++) slice[k] -= lo; }
  let hi = -Infinity;
  for (const v of slice) hi = Math.max(hi, v);
  if (hi > 1) { for (let k = 0; k < slice.length; k++) slice[k] /= hi; }
  // Transposed display: pixel (row j, column i) = slice[i, j]; uint8 conversion truncates.
  const pixels = new Uint8Array(na * nb);
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      const v = 255 * slice[i * nb + j];
      pixels[j * na + i] = v > 0 ? Math.min(255, Math.trunc(v)) : 0;
    }
  }
  return { pixels, width: na, height: nb };
}

/** {@link referenceSlice} for axes 0, 1, 2, each encoded as a grey PNG. */
export function referenceSlicePngs(
  data: Float32Array,
  shape: readonly [number, number, number],
): { png: Uint8Array; width: number; height: number }[] {
  return ([0, 1, 2] as const).map((axis) => {
    const img = referenceSlice(data, shape, axis);
    return { png: encodePng(img.pixels, img.width, img.height), width: img.width, height: img.height };
  });
}
