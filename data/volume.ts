/** The host-side image volume every data transform consumes and produces. */

/** A 4×4 affine (row-major, `affine[row][col]`) mapping voxel indices (i, j, k, 1) to world millimetres. */
export type Affine = number[][];

/**
 * A channel-first image on the host, like a MONAI MetaTensor: `data` is C-order (row-major) over
 * `shape = [C, X, Y, Z]` (the last axis varies fastest), `affine` maps (x, y, z) indices to world mm and
 * `spacing` holds the affine's column norms (voxel size in mm).
 */
export interface Volume {
  /** Voxel values, C-order over `shape`. */
  data: Float32Array;
  /** `[C, X, Y, Z]`. */
  shape: [number, number, number, number];
  /** 4×4 voxel-to-world matrix of the spatial axes. */
  affine: Affine;
  /** Voxel size in mm along X, Y, Z (column norms of `affine`). */
  spacing: [number, number, number];
}

/** Number of voxels of a `[C, X, Y, Z]` shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Voxel sizes (column norms of the 3×3 part) of an affine. */
export function spacingOf(affine: Affine): [number, number, number] {
  const out: number[] = [];
  for (let c = 0; c < 3; c++) {
    out.push(Math.hypot(affine[0][c], affine[1][c], affine[2][c]));
  }
  return out as [number, number, number];
}

/** Builds a Volume from data, shape and affine (spacing derived from the affine); checks the length. */
export function makeVolume(
  data: Float32Array,
  shape: readonly [number, number, number, number],
  affine: Affine,
): Volume {
  if (data.length !== numel(shape)) {
    throw new Error(
      `volume: data has ${data.length} values but shape [${shape.join(", ")}] needs ${numel(shape)}`,
    );
  }
  return {
    data,
    shape: [shape[0], shape[1], shape[2], shape[3]],
    affine: affine.map((r) => r.slice()),
    spacing: spacingOf(affine),
  };
}

/** Index of the first NaN or ±Inf value, or -1 when all are finite. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/** `[x, y, z]` (and channel) of a flat index into a `[C, X, Y, Z]` volume, for messages. */
export function voxelAt(
  shape: readonly number[],
  index: number,
): { channel: number; xyz: [number, number, number] } {
  const [, nx, ny, nz] = shape;
  const n = nx * ny * nz, r = index % n;
  return {
    channel: Math.floor(index / n),
    xyz: [Math.floor(r / (ny * nz)), Math.floor(r / nz) % ny, r % nz],
  };
}
