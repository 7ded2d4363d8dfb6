/** Resampling to a target voxel size (MONAI Spacingd, mode "bilinear" = trilinear, padding "border"). */
import { invert, matmul } from "../affine.ts";
import { type Affine, spacingOf, type Volume } from "../volume.ts";
import type { Transform } from "./transform.ts";

/** numpy `round` (half to even). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** Lower Cholesky factor of a symmetric positive-definite 3×3 matrix. */
function cholesky3(g: number[][]): number[][] {
  const l = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j <= i; j++) {
      let s = g[i][j];
      for (let k = 0; k < j; k++) s -= l[i][k] * l[j][k];
      if (i === j) {
        if (!(s > 0)) throw new Error("spacing: affine direction matrix is singular (Cholesky failed)");
        l[i][i] = Math.sqrt(s);
      } else l[i][j] = s / l[j][j];
    }
  }
  return l;
}

/**
 * MONAI `zoom_affine(A, pixdim, diagonal=False)`: keeps the rotation/flips of A (shear dropped), sets the voxel
 * sizes to `pixdim`, keeps the translation (voxel (0, 0, 0) stays where it was).
 */
export function zoomAffine(a: Affine, pixdim: readonly number[]): Affine {
  const rzs = [a[0].slice(0, 3), a[1].slice(0, 3), a[2].slice(0, 3)];
  const g = matmul(rzs[0].map((_, j) => rzs.map((r) => r[j])), rzs);
  const zs = cholesky3(g).map((_, i, l) => l.map((r) => r[i])); // upper = L^T
  const r = matmul(rzs, invert(zs));
  const out: Affine = [[0, 0, 0, a[0][3]], [0, 0, 0, a[1][3]], [0, 0, 0, a[2][3]], [0, 0, 0, 1]];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) out[i][j] = r[i][j] * Math.sign(zs[j][j]) * pixdim[j];
  }
  return out;
}

/** Output spatial shape for resampling `shape` from `inAffine` to `outAffine` (MONAI compute_shape_offset, scale_extent=False). */
export function resampledShape(
  shape: readonly number[],
  inAffine: Affine,
  outAffine: Affine,
): [number, number, number] {
  const xf = matmul(invert(outAffine), inAffine);
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let corner = 0; corner < 8; corner++) {
    const p = [0, 1, 2].map((a) => ((corner >> a) & 1) * (shape[a] - 1));
    for (let r = 0; r < 3; r++) {
      const v = xf[r][0] * p[0] + xf[r][1] * p[1] + xf[r][2] * p[2] + xf[r][3];
      lo[r] = Math.min(lo[r], v);
      hi[r] = Math.max(hi[r], v);
    }
  }
  return [0, 1, 2].map((r) => roundHalfEven(hi[r] - lo[r] + 1)) as [number, number, number];
}

/**
 * Default cap on a resampled volume: 2^27 voxels (all channels), 512 MiB as float32, about 20 times a BraTS
 * volume at 1 mm. The reference chains raise it to the crop size when the patch itself is larger.
 */
export const DEFAULT_MAX_RESAMPLED_VOXELS = 2 ** 27;

/** Options of {@link spacing}. */
export interface SpacingOptions {
  /** Most voxels (all channels) the resampled volume may have; checked before allocating. */
  maxVoxels?: number;
}

/**
 * Resamples `[C, X, Y, Z]` to voxel size `pixdim` mm: output voxel j samples the input at continuous index
 * `A⁻¹·A_out·j` (voxel centres, no half-voxel shift), trilinear, coordinates clamped to [0, n-1] (border),
 * computed in float64, stored as float32. Output size per axis `round((n-1)·s_in/s_out + 1)`.
 * Refuses, before allocating, an output over `maxVoxels` and an image that covers less than one output voxel.
 */
export function spacing(pixdim: readonly [number, number, number], options: SpacingOptions = {}): Transform {
  const maxVoxels = options.maxVoxels ?? DEFAULT_MAX_RESAMPLED_VOXELS;
  return {
    name: "spacing",
    params: { pixdim: [...pixdim], mode: "bilinear", padding: "border", maxVoxels },
    random: false,
    apply(v: Volume): Volume {
      const outAffine = zoomAffine(v.affine, pixdim);
      const outShape = resampledShape(v.shape.slice(1), v.affine, outAffine);
      const xform = matmul(invert(v.affine), outAffine);
      checkResampledSize(v, matmul(invert(outAffine), v.affine), outShape, pixdim, maxVoxels);
      return { ...resampleTrilinear(v, xform, outShape), affine: outAffine, spacing: spacingOf(outAffine) };
    },
  };
}

/**
 * The checks that keep a hostile header from making Spacing allocate without bound: the output (and the
 * float64 working rows of the separable path) must fit `maxVoxels`, and the image must span at least one
 * output voxel along every axis (`toOut` maps input indices to output indices).
 */
function checkResampledSize(
  v: Volume,
  toOut: number[][],
  outShape: readonly [number, number, number],
  pixdim: readonly number[],
  maxVoxels: number,
): void {
  const [nc, nx, ny, nz] = v.shape;
  const [ox, oy, oz] = outShape;
  const from = `[${nx}, ${ny}, ${nz}] voxels of [${v.spacing.map((s) => +s.toPrecision(4)).join(", ")}] mm`;
  // Extent of the image's voxel box [-0.5, n-0.5] along each output axis, in output voxels.
  const span = [0, 1, 2].map((r) => [nx, ny, nz].reduce((s, n, a) => s + Math.abs(toOut[r][a]) * n, 0));
  if (!span.every((s) => s >= 1)) {
    throw new Error(
      `spacing: resampling ${from} to [${pixdim.join(", ")}] mm: the image covers only ` +
        `[${span.map((s) => +s.toPrecision(3)).join(", ")}] output voxels, smaller than one voxel`,
    );
  }
  const outVoxels = nc * ox * oy * oz;
  const scratch = Math.max(nx * ny * oz, nx * oy * oz);
  if (outVoxels > maxVoxels || scratch > maxVoxels || !Number.isFinite(outVoxels)) {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    throw new Error(
      `spacing: resampling ${from} to [${pixdim.join(", ")}] mm gives [${outShape.join(", ")}] × ${nc} = ` +
        `${outVoxels} voxels (${
          mib(4 * outVoxels + 16 * scratch)
        } with working buffers), over the limit of ` +
        `${maxVoxels} voxels (${mib(4 * maxVoxels)} as float32); check the header's voxel size or raise ` +
        `max_resampled_voxels`,
    );
  }
}

interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  w: Float64Array;
}

function axisTaps(scale: number, offset: number, nIn: number, nOut: number): AxisTaps {
  const i0 = new Int32Array(nOut), i1 = new Int32Array(nOut), w = new Float64Array(nOut);
  for (let j = 0; j < nOut; j++) {
    let c = scale * j + offset;
    c = Math.min(Math.max(c, 0), nIn - 1);
    const f = Math.floor(c);
    i0[j] = f;
    i1[j] = Math.min(f + 1, nIn - 1);
    w[j] = c - f;
  }
  return { i0, i1, w };
}

/** Trilinear resampling with border clamping: output voxel j takes the input at index `xform · [j, 1]`. */
export function resampleTrilinear(
  v: Volume,
  xform: number[][],
  outShape: readonly [number, number, number],
): { data: Float32Array; shape: [number, number, number, number] } {
  const [nc, nx, ny, nz] = v.shape;
  const [ox, oy, oz] = outShape;
  const src = v.data;
  const out = new Float32Array(nc * ox * oy * oz);
  let diagonal = true;
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) if (r !== c && Math.abs(xform[r][c]) > 1e-12) diagonal = false;
  }
  if (diagonal) {
    // Separable: along z, then y, then x (identical to the 8-tap formula up to float64 rounding).
    const tz = axisTaps(xform[2][2], xform[2][3], nz, oz);
    const ty = axisTaps(xform[1][1], xform[1][3], ny, oy);
    const tx = axisTaps(xform[0][0], xform[0][3], nx, ox);
    const t1 = new Float64Array(nx * ny * oz);
    const t2 = new Float64Array(nx * oy * oz);
    for (let c = 0; c < nc; c++) {
      const cs = c * nx * ny * nz;
      for (let row = 0; row < nx * ny; row++) {
        const s = cs + row * nz, d = row * oz;
        for (let k = 0; k < oz; k++) {
          const a = src[s + tz.i0[k]], b = src[s + tz.i1[k]], w = tz.w[k];
          t1[d + k] = a + (b - a) * w;
        }
      }
      for (let x = 0; x < nx; x++) {
        for (let j = 0; j < oy; j++) {
          const a0 = (x * ny + ty.i0[j]) * oz, b0 = (x * ny + ty.i1[j]) * oz, w = ty.w[j];
          const d = (x * oy + j) * oz;
          for (let k = 0; k < oz; k++) t2[d + k] = t1[a0 + k] + (t1[b0 + k] - t1[a0 + k]) * w;
        }
      }
      const co = c * ox * oy * oz;
      for (let i = 0; i < ox; i++) {
        const a0 = tx.i0[i] * oy * oz, b0 = tx.i1[i] * oy * oz, w = tx.w[i];
        const d = co + i * oy * oz;
        for (let k = 0; k < oy * oz; k++) out[d + k] = t2[a0 + k] + (t2[b0 + k] - t2[a0 + k]) * w;
      }
    }
    return { data: out, shape: [nc, ox, oy, oz] };
  }
  let d = 0;
  const sx = ny * nz, sy = nz;
  for (let c = 0; c < nc; c++) {
    const cs = c * nx * ny * nz;
    for (let i = 0; i < ox; i++) {
      for (let j = 0; j < oy; j++) {
        for (let k = 0; k < oz; k++) {
          const p = [0, 0, 0];
          const dims = [nx, ny, nz];
          for (let r = 0; r < 3; r++) {
            const q = xform[r][0] * i + xform[r][1] * j + xform[r][2] * k + xform[r][3];
            p[r] = Math.min(Math.max(q, 0), dims[r] - 1);
          }
          const x0 = Math.floor(p[0]), y0 = Math.floor(p[1]), z0 = Math.floor(p[2]);
          const fx = p[0] - x0, fy = p[1] - y0, fz = p[2] - z0;
          const x1 = Math.min(x0 + 1, nx - 1), y1 = Math.min(y0 + 1, ny - 1), z1 = Math.min(z0 + 1, nz - 1);
          const at = (x: number, y: number, z: number) => src[cs + x * sx + y * sy + z];
          out[d++] = (1 - fx) * ((1 - fy) * ((1 - fz) * at(x0, y0, z0) + fz * at(x0, y0, z1)) +
                fy * ((1 - fz) * at(x0, y1, z0) + fz * at(x0, y1, z1))) +
            fx * ((1 - fy) * ((1 - fz) * at(x1, y0, z0) + fz * at(x1, y0, z1)) +
                fy * ((1 - fz) * at(x1, y1, z0) + fz * at(x1, y1, z1)));
        }
      }
    }
  }
  return { data: out, shape: [nc, ox, oy, oz] };
}
