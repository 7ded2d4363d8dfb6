/**
 * Builders of hostile NIfTI files for the bounded-memory tests: valid headers with absurd voxel sizes, scaling
 * that overflows float32, decompression bombs, and a header fuzzer. Small on disk by construction.
 */
import { constants, deflateRawSync, gzipSync } from "node:zlib";
import { encodeNifti, makeVolume, type MT19937 } from "../../data/mod.ts";

/** NIfTI-1 header offsets this file patches (little-endian, as our writer produces). */
const OFF = { dim: 40, datatype: 70, bitpix: 72, pixdim: 76, slope: 112, inter: 116, srow: 280 } as const;

/** A plain little-endian int16 (or float32) .nii of shape [X, Y, Z] with a diagonal affine of `voxel` mm. */
export function niftiBytes(
  shape: [number, number, number],
  voxel: [number, number, number],
  options: { dtype?: "int16" | "float32"; value?: (i: number) => number } = {},
): Uint8Array {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = options.value ? options.value(i) : (i * 7) % 100;
  const affine = [[voxel[0], 0, 0, 0], [0, voxel[1], 0, 0], [0, 0, voxel[2], 0], [0, 0, 0, 1]];
  return encodeNifti(makeVolume(data, [1, ...shape], affine), { dtype: options.dtype ?? "int16" });
}

/** Fields of {@link patchHeader}; each overwrites the stored header value. */
export interface HeaderPatch {
  /** Voxel sizes written to pixdim[1..3] and the sform diagonal (the qform takes pixdim). */
  voxel?: [number, number, number];
  /** Voxel sizes written to pixdim only (the sform keeps its values). */
  pixdimOnly?: [number, number, number];
  /** dim[1..3]. */
  dims?: [number, number, number];
  /** scl_slope. */
  slope?: number;
  /** scl_inter. */
  inter?: number;
}

/** Returns a copy of plain NIfTI bytes with header fields overwritten. */
export function patchHeader(bytes: Uint8Array, p: HeaderPatch): Uint8Array {
  const out = bytes.slice();
  const v = new DataView(out.buffer);
  const pix = p.voxel ?? p.pixdimOnly;
  if (pix) pix.forEach((s, i) => v.setFloat32(OFF.pixdim + 4 * (i + 1), s, true));
  if (p.voxel) p.voxel.forEach((s, i) => v.setFloat32(OFF.srow + (i * 4 + i) * 4, s, true));
  if (p.dims) p.dims.forEach((d, i) => v.setInt16(OFF.dim + 2 * (i + 1), d, true));
  if (p.slope !== undefined) v.setFloat32(OFF.slope, p.slope, true);
  if (p.inter !== undefined) v.setFloat32(OFF.inter, p.inter, true);
  return out;
}

/**
 * A gzip stream whose first bytes are `header` (a NIfTI header up to vox_offset) followed by `inflatedBytes`
 * zeros: made of repeated independently-compressed 1 MiB blocks, so 3 GiB costs ~3 MB and no compression time.
 * The trailer's CRC is not that of the data: a reader that stops early never gets to check it.
 */
export function gzipBomb(header: Uint8Array, inflatedBytes: number): Uint8Array {
  const flush = { finishFlush: constants.Z_FULL_FLUSH };
  const head = deflateRawSync(header, flush);
  const zeros = deflateRawSync(new Uint8Array(1 << 20), flush);
  const end = deflateRawSync(new Uint8Array(0));
  const blocks = Math.ceil(inflatedBytes / (1 << 20));
  const out = new Uint8Array(10 + head.length + blocks * zeros.length + end.length + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], 0);
  let p = 10;
  out.set(head, p);
  p += head.length;
  for (let b = 0; b < blocks; b++, p += zeros.length) out.set(zeros, p);
  out.set(end, p);
  return out; // last 8 bytes (CRC32, ISIZE) left zero
}

const VOXEL_CHOICES = [0, -1, NaN, Infinity, 1e-6, 5e-4, 1e-3, 0.01, 0.3, 1, 2.5, 40, 100, 100.5, 1e4];
const SLOPE_CHOICES = [1, 0.5, 0, NaN, Infinity, 1e38, -3e38, 1e-40];
const INTER_CHOICES = [0, 5, 1e38, NaN];

/** One fuzzed file: header fields drawn from degenerate and absurd values, plain or gzip. */
export function fuzzedNifti(rng: MT19937, trial: number): { name: string; bytes: Uint8Array; what: string } {
  const pick = <T>(xs: readonly T[]): T => xs[rng.interval(xs.length - 1)];
  const shape: [number, number, number] = [4 + rng.interval(8), 4 + rng.interval(8), 3 + rng.interval(6)];
  const dtype = rng.interval(1) ? "float32" : "int16";
  const nanAt = dtype === "float32" && rng.interval(4) === 0
    ? rng.interval(shape[0] * shape[1] * shape[2] - 1)
    : -1;
  let bytes = niftiBytes(shape, [1, 1, 1], { dtype, value: (i) => (i === nanAt ? NaN : (i * 13) % 200) });
  const patch: HeaderPatch = {};
  const parts: string[] = [`${dtype} [${shape}]`];
  const mode = rng.interval(4);
  const voxel = [0, 1, 2].map(() => rng.interval(2) ? pick(VOXEL_CHOICES) : 0.5 + rng.random() * 3) as [
    number,
    number,
    number,
  ];
  if (mode === 0) patch.pixdimOnly = voxel;
  else patch.voxel = voxel;
  parts.push(`${mode === 0 ? "pixdim" : "voxel"} [${voxel}]`);
  if (rng.interval(3) === 0) {
    patch.dims = shape.map((n) => (rng.interval(3) === 0 ? pick([1, 2, 300, 32767]) : n)) as typeof shape;
    parts.push(`dims [${patch.dims}]`);
  }
  if (rng.interval(2) === 0) {
    patch.slope = pick(SLOPE_CHOICES);
    patch.inter = pick(INTER_CHOICES);
    parts.push(`slope ${patch.slope} inter ${patch.inter}`);
  }
  if (nanAt >= 0) parts.push(`NaN voxel ${nanAt}`);
  bytes = patchHeader(bytes, patch);
  const gz = rng.interval(1) === 1;
  if (gz) bytes = new Uint8Array(gzipSync(bytes));
  return { name: `fuzz_${trial}.nii${gz ? ".gz" : ""}`, bytes, what: parts.join(", ") };
}
