/**
 * Our own NIfTI-1 writer: a 348-byte header (qform and sform both set from the affine), data, optional gzip.
 * Bytes out (`encodeNifti`; gzip in plain TypeScript, so it runs in a browser); files in nifti_write_file.ts.
 */
import { gzipSync } from "fflate";
import { affineToQform } from "./affine.ts";
import type { Affine, Volume } from "./volume.ts";

/** On-disk voxel types the writer supports. */
export type NiftiWriteDtype = "float32" | "int16" | "uint8";

/** Options for writing a NIfTI-1 file. */
export interface WriteNiftiOptions {
  /** Voxel type on disk (default float32). Integer types round to nearest and throw when a value does not fit. */
  dtype?: NiftiWriteDtype;
  /** gzip the output (default: when the path ends with `.gz`). */
  gzip?: boolean;
  /** gzip level 1..9 (default 6). */
  gzipLevel?: number;
  /** scl_slope to store (stored value v means v*slope + inter); default 1. */
  slope?: number;
  /** scl_inter to store (default 0). */
  inter?: number;
  /** qform_code (default 1 = scanner anatomical). */
  qformCode?: number;
  /** sform_code (default 1). */
  sformCode?: number;
  /** Header description (max 79 chars). */
  description?: string;
}

const DTYPES: Record<NiftiWriteDtype, { code: number; bytes: number }> = {
  float32: { code: 16, bytes: 4 },
  int16: { code: 4, bytes: 2 },
  uint8: { code: 2, bytes: 1 },
};

/**
 * Encodes a volume `[C, X, Y, Z]` as NIfTI-1 bytes. C = 1 gives a 3-D file (X, Y, Z); C > 1 a 4-D file with the
 * channel last (X, Y, Z, C) as the Decathlon files have it. Units: mm and s (xyzt_units 10).
 */
export function encodeNifti(volume: Volume, options: WriteNiftiOptions = {}): Uint8Array {
  const dtype = options.dtype ?? "float32";
  const info = DTYPES[dtype];
  if (!info) throw new Error(`NIfTI writer: unsupported dtype '${dtype}'`);
  const [nc, nx, ny, nz] = volume.shape;
  for (const n of volume.shape) {
    if (!Number.isInteger(n) || n < 1 || n > 32767) {
      throw new Error(`NIfTI writer: bad shape [${volume.shape}]`);
    }
  }
  const slope = options.slope ?? 1, inter = options.inter ?? 0;
  if (!(slope !== 0 && Number.isFinite(slope) && Number.isFinite(inter))) {
    throw new Error(`NIfTI writer: invalid slope/inter ${slope}/${inter}`);
  }
  const nSpatial = nx * ny * nz;
  const voxOffset = 352;
  const out = new Uint8Array(voxOffset + nSpatial * nc * info.bytes);
  const view = new DataView(out.buffer);
  writeHeader(
    view,
    volume.affine,
    [nx, ny, nz, nc],
    info.code,
    info.bytes * 8,
    voxOffset,
    slope,
    inter,
    options,
  );
  // Data: x fastest on disk, ours is z fastest.
  const yz = ny * nz;
  const src = volume.data;
  let p = voxOffset;
  for (let c = 0; c < nc; c++) {
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        let s = c * nSpatial + y * nz + z;
        for (let x = 0; x < nx; x++, s += yz) {
          const v = src[s];
          if (dtype === "float32") {
            view.setFloat32(p, v, true);
            p += 4;
            continue;
          }
          const raw = Math.round((v - inter) / slope);
          const [lo, hi] = dtype === "int16" ? [-32768, 32767] : [0, 255];
          if (!(raw >= lo && raw <= hi)) {
            throw new Error(
              `NIfTI writer: value ${v} does not fit ${dtype} with slope ${slope}, inter ${inter}`,
            );
          }
          if (dtype === "int16") {
            view.setInt16(p, raw, true);
            p += 2;
          } else {
            view.setUint8(p, raw);
            p += 1;
          }
        }
      }
    }
  }
  const gzip = options.gzip ?? false;
  const level = options.gzipLevel ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new Error(`NIfTI writer: gzipLevel must be an integer 0..9, got ${level}`);
  }
  return gzip ? gzipSync(out, { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 }) : out;
}

function writeHeader(
  view: DataView,
  affine: Affine,
  [nx, ny, nz, nc]: number[],
  datatype: number,
  bitpix: number,
  voxOffset: number,
  slope: number,
  inter: number,
  options: WriteNiftiOptions,
): void {
  const le = true;
  view.setInt32(0, 348, le); // sizeof_hdr
  view.setUint8(38, "r".charCodeAt(0)); // regular (Analyze legacy)
  const dims = nc > 1 ? [4, nx, ny, nz, nc, 1, 1, 1] : [3, nx, ny, nz, 1, 1, 1, 1];
  dims.forEach((d, i) => view.setInt16(40 + 2 * i, d, le));
  view.setInt16(70, datatype, le);
  view.setInt16(72, bitpix, le);
  const q = affineToQform(affine);
  const pixdim = [q.qfac, q.zooms[0], q.zooms[1], q.zooms[2], 1, 1, 1, 1];
  pixdim.forEach((v, i) => view.setFloat32(76 + 4 * i, v, le));
  view.setFloat32(108, voxOffset, le);
  view.setFloat32(112, slope, le);
  view.setFloat32(116, inter, le);
  view.setUint8(123, 2 | 8); // xyzt_units: NIFTI_UNITS_MM | NIFTI_UNITS_SEC
  const desc = (options.description ?? "ldm3d toolkit").slice(0, 79);
  for (let i = 0; i < desc.length; i++) view.setUint8(148 + i, desc.charCodeAt(i) & 0x7f);
  view.setInt16(252, options.qformCode ?? 1, le);
  view.setInt16(254, options.sformCode ?? 1, le);
  view.setFloat32(256, q.quatern[0], le);
  view.setFloat32(260, q.quatern[1], le);
  view.setFloat32(264, q.quatern[2], le);
  view.setFloat32(268, q.offset[0], le);
  view.setFloat32(272, q.offset[1], le);
  view.setFloat32(276, q.offset[2], le);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) view.setFloat32(280 + (r * 4 + c) * 4, affine[r][c], le);
  }
  "n+1\0".split("").forEach((ch, i) => view.setUint8(344 + i, ch.charCodeAt(0)));
  // Bytes 348..351: extension flag, all zero (no extensions).
}
