/**
 * NIfTI-1 reader (.nii, .nii.gz) with the semantics of MONAI 1.4 `LoadImage` (NibabelReader): values scaled by
 * scl_slope/scl_inter in float64 then rounded to float32, affine chosen as nibabel's `get_best_affine` plus
 * MONAI's header correction, 4-D files turned channel-first.
 */
import * as nifti from "nifti-reader-js";
import { gunzipCapped, InflateLimitError, inflateRawPrefix } from "./gzip.ts";
import { type Affine, firstNonFinite, makeVolume, spacingOf, type Volume, voxelAt } from "./volume.ts";
import { quaternionToMatrix } from "./affine.ts";

/** An error about one NIfTI file; the message names the file and what is wrong with it. */
export class NiftiError extends Error {
  /** Creates the error for `file` with a description of the problem. */
  constructor(readonly file: string, problem: string) {
    super(`NIfTI file '${file}': ${problem}`);
    this.name = "NiftiError";
  }
}

/** NIfTI-1 datatype codes this reader understands, with their byte sizes. */
export const NIFTI_DATATYPES: Record<number, { name: string; bytes: number }> = {
  2: { name: "uint8", bytes: 1 },
  4: { name: "int16", bytes: 2 },
  8: { name: "int32", bytes: 4 },
  16: { name: "float32", bytes: 4 },
  64: { name: "float64", bytes: 8 },
  256: { name: "int8", bytes: 1 },
  512: { name: "uint16", bytes: 2 },
  768: { name: "uint32", bytes: 4 },
  1024: { name: "int64", bytes: 8 },
  1280: { name: "uint64", bytes: 8 },
};

/** The NIfTI-1 header fields as stored in the file (float fields are the stored float32 values). */
export interface NiftiHeader {
  /** Byte order of the file (from sizeof_hdr). */
  littleEndian: boolean;
  /** `dim[0..7]`. */
  dim: number[];
  /** `pixdim[0..7]` (pixdim[0] is qfac). */
  pixdim: number[];
  /** NIfTI datatype code. */
  datatype: number;
  /** Bits per voxel. */
  bitpix: number;
  /** Byte offset of the voxel data. */
  voxOffset: number;
  /** scl_slope (0 or NaN: no scaling). */
  sclSlope: number;
  /** scl_inter. */
  sclInter: number;
  /** xyzt_units (spatial units in bits 0-2). */
  xyztUnits: number;
  /** qform_code. */
  qformCode: number;
  /** sform_code. */
  sformCode: number;
  /** quatern_b, quatern_c, quatern_d. */
  quaternBCD: [number, number, number];
  /** qoffset_x, qoffset_y, qoffset_z. */
  qoffset: [number, number, number];
  /** srow_x, srow_y, srow_z. */
  srow: [number[], number[], number[]];
  /** descrip. */
  description: string;
  /** Magic string ("n+1"). */
  magic: string;
}

/** Where the affine came from: `sform`, `qform`, the Analyze `base` affine, or MONAI's replacement of the sform by the qform. */
export type AffineSource = "sform" | "qform" | "base" | "qform-replaced-sform";

/** A decoded NIfTI image: the channel-first volume plus header facts. */
export interface NiftiImage {
  /** Channel-first volume `[C, X, Y, Z]` (C = dim[4] for 4-D files, else 1). */
  volume: Volume;
  /** The header fields as stored. */
  header: NiftiHeader;
  /** The affine nibabel computes (sform > qform > base), before MONAI's correction. */
  nibabelAffine: Affine;
  /** Which header field the volume's affine came from. */
  affineSource: AffineSource;
  /** The file's own dims `dim[1..dim[0]]` (X, Y, Z[, C]). */
  fileShape: number[];
}

/**
 * Voxel sizes (affine column norms, in the file's units, read as mm as nibabel and MONAI do) outside this range
 * are rejected at load: a 0 or 1e-6 mm voxel is a broken header, and a voxel over 100 mm makes a brain volume of
 * a few voxels that resampling would blow up to a huge grid.
 */
export const VOXEL_SIZE_RANGE_MM = { min: 1e-3, max: 100 } as const;

/** Default cap on a file's decoded size (header + voxel bytes) and on the float32 volume it becomes: 2 GiB. */
export const DEFAULT_MAX_NIFTI_BYTES = 2 ** 31;

/** Decompressed bytes allowed past the end of the voxel data (trailing padding some writers add). */
export const GZIP_TRAILING_ALLOWANCE = 1 << 20;

/** Options for reading: restrict to some channels (of a 4-D file) to save time and memory; the size cap. */
export interface ReadNiftiOptions {
  /** Channel indices to keep (default all). */
  channels?: number[];
  /** Most bytes the header may announce (vox_offset + voxel data), and most bytes of the float32 volume
   * returned; default {@link DEFAULT_MAX_NIFTI_BYTES}. Checked before anything large is inflated or allocated. */
  maxBytes?: number;
}

/** Reads a `.nii` or `.nii.gz` file (gzip detected from the bytes, not the name). */
export async function readNifti(path: string, options: ReadNiftiOptions = {}): Promise<NiftiImage> {
  let bytes: Uint8Array;
  try {
    checkFileSize(path, (await Deno.stat(path)).size, options);
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof NiftiError) throw e;
    throw new NiftiError(path, `cannot read: ${osMessage(e)}`);
  }
  return parseNifti(bytes, path, options);
}

/** Synchronous variant of {@link readNifti}. */
export function readNiftiSync(path: string, options: ReadNiftiOptions = {}): NiftiImage {
  let bytes: Uint8Array;
  try {
    checkFileSize(path, Deno.statSync(path).size, options);
    bytes = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof NiftiError) throw e;
    throw new NiftiError(path, `cannot read: ${osMessage(e)}`);
  }
  return parseNifti(bytes, path, options);
}

/** A file larger on disk than the decoded-size cap is refused before it is read. */
function checkFileSize(path: string, size: number, options: ReadNiftiOptions): void {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_NIFTI_BYTES;
  const limit = maxBytes + GZIP_TRAILING_ALLOWANCE;
  if (size > limit) {
    throw new NiftiError(
      path,
      `file is ${size} bytes (${mib(size)}), over the limit of ${limit} bytes; not read`,
    );
  }
}

/** An OS error's message without the path Deno appends (the NiftiError names the file already). */
function osMessage(e: unknown): string {
  return (e as Error).message.replace(/: \w+ '[^']*'$/, "");
}

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decodes NIfTI-1 bytes (plain or gzip); `name` is used in error messages. */
export function parseNifti(input: Uint8Array, name: string, options: ReadNiftiOptions = {}): NiftiImage {
  const gz = isGzip(input);
  // The header comes first, from the first inflated bytes, so that the size checks run before the inflate.
  const header = parseHeader(gz ? inflateHead(input, name) : input, name);
  const { dim, datatype } = header;
  const ndim = dim[0];
  const fileShape = dim.slice(1, ndim + 1);
  const info = NIFTI_DATATYPES[datatype];
  if (!info) throw new NiftiError(name, `unsupported datatype code ${datatype}`);
  if (header.bitpix !== info.bytes * 8) {
    throw new NiftiError(
      name,
      `bitpix ${header.bitpix} disagrees with datatype ${info.name} (${info.bytes * 8} bits)`,
    );
  }
  for (let i = 5; i <= ndim; i++) {
    if (dim[i] !== 1) {
      throw new NiftiError(name, `${ndim}-D images with dim[${i}] = ${dim[i]} are not supported`);
    }
  }
  const [nx, ny, nz] = [dim[1], ndim >= 2 ? dim[2] : 1, ndim >= 3 ? dim[3] : 1];
  const nc = ndim >= 4 ? dim[4] : 1;
  const nvox = nx * ny * nz * nc;
  const voxOffset = Math.floor(header.voxOffset);
  const need = nvox * info.bytes;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_NIFTI_BYTES;
  const channels = options.channels ?? Array.from({ length: nc }, (_, i) => i);
  const outBytes = channels.length * nx * ny * nz * 4;
  if (voxOffset + need > maxBytes || outBytes > maxBytes) {
    throw new NiftiError(
      name,
      `dims [${fileShape.join(", ")}] of ${info.name} announce ${voxOffset + need} bytes ` +
        `(${mib(voxOffset + need)}; ${mib(outBytes)} as float32), over the limit of ${maxBytes} bytes ` +
        `(${mib(maxBytes)}); dims wrong, or raise the reader's maxBytes`,
    );
  }
  const bytes = gz ? inflateCapped(input, name, voxOffset + need) : input;
  if (voxOffset + need > bytes.length) {
    throw new NiftiError(
      name,
      `dims [${
        fileShape.join(", ")
      }] of ${info.name} need ${need} bytes of voxel data at offset ${voxOffset}, ` +
        `but the ${gz ? "decompressed " : ""}file has only ${bytes.length} bytes (truncated, or dims wrong)`,
    );
  }
  for (const c of channels) {
    if (!Number.isInteger(c) || c < 0 || c >= nc) {
      throw new NiftiError(name, `channel ${c} requested but the image has ${nc} channel(s)`);
    }
  }
  const slope = header.sclSlope, inter = header.sclInter;
  // Reference behaviour: nibabel skips scaling (intercept included) when the slope is 0 or not finite.
  const scaled = slope !== 0 && Number.isFinite(slope);
  if (scaled && !Number.isFinite(inter)) {
    throw new NiftiError(name, `valid scl_slope ${slope} but invalid scl_inter ${inter}`);
  }
  const data = decodeVoxels(
    bytes,
    voxOffset,
    datatype,
    header.littleEndian,
    [nx, ny, nz, nc],
    channels,
    scaled ? slope : 1,
    scaled ? inter : 0,
  );
  assertFiniteVoxels(data, [nx, ny, nz], channels, scaled ? [slope, inter] : null, name);
  const { affine, nibabelAffine, source } = bestAffine(header, name);
  if (!affine.every((row) => row.every(Number.isFinite))) {
    throw new NiftiError(name, `affine from the ${source} is not finite: ${JSON.stringify(affine)}`);
  }
  assertVoxelSizes(affine, source, name);
  const volume = makeVolume(data, [channels.length, nx, ny, nz], affine);
  return { volume, header, nibabelAffine, affineSource: source, fileShape };
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Byte offset of the deflate data in a gzip member (after the optional extra, name, comment and CRC fields). */
function gzipDataOffset(b: Uint8Array, name: string): number {
  const flags = b[3];
  let p = 10;
  if (flags & 4) p += 2 + (b[10] | (b[11] << 8)); // FEXTRA
  for (const bit of [8, 16]) { // FNAME, FCOMMENT: zero-terminated
    if (flags & bit) {
      while (p < b.length && b[p] !== 0) p++;
      p++;
    }
  }
  if (flags & 2) p += 2; // FHCRC
  if (b.length < 10 || p > b.length) throw new NiftiError(name, "corrupt or truncated gzip data (header)");
  return p;
}

/**
 * The first inflated bytes of a gzip file, enough for the 348-byte header: inflates only a short prefix of the
 * compressed data, so a decompression bomb costs at most ~1000× that prefix.
 */
function inflateHead(input: Uint8Array, name: string): Uint8Array {
  const start = gzipDataOffset(input, name);
  let out: Uint8Array = new Uint8Array(0);
  for (const take of [1024, 65536]) {
    try {
      out = inflateRawPrefix(input.subarray(start, start + take), 2048 * take);
    } catch (e) {
      throw new NiftiError(name, `corrupt or truncated gzip data (${(e as Error).message})`);
    }
    if (out.length >= 348 || start + take >= input.length) break;
  }
  return out;
}

/** Inflates a whole gzip file, stopping with an error once it grows past what the header announces. */
function inflateCapped(input: Uint8Array, name: string, expected: number): Uint8Array {
  const cap = expected + GZIP_TRAILING_ALLOWANCE;
  try {
    return gunzipCapped(input, cap);
  } catch (e) {
    if (e instanceof InflateLimitError) {
      throw new NiftiError(
        name,
        `gzip data inflates to more than ${cap} bytes, but the header announces ${expected} ` +
          `(vox_offset + voxel data; ${GZIP_TRAILING_ALLOWANCE} bytes of trailing data allowed): ` +
          `a decompression bomb or wrong dims; stopped`,
      );
    }
    throw new NiftiError(name, `corrupt or truncated gzip data (${(e as Error).message})`);
  }
}

/** Rejects Inf/NaN voxels (e.g. a huge scl_slope overflowing float32), naming the first one. */
function assertFiniteVoxels(
  data: Float32Array,
  [nx, ny, nz]: number[],
  channels: number[],
  scaling: [number, number] | null,
  name: string,
): void {
  const first = firstNonFinite(data);
  if (first < 0) return;
  let count = 0;
  for (let i = first; i < data.length; i++) if (!Number.isFinite(data[i])) count++;
  const { channel, xyz } = voxelAt([channels.length, nx, ny, nz], first);
  const where = channels.length > 1 || channels[0] !== 0 ? ` of channel ${channels[channel]}` : "";
  const overflow = Number.isNaN(data[first]) ? "" : ", beyond the float32 range";
  const why = scaling
    ? ` after scaling by scl_slope ${scaling[0]} and scl_inter ${scaling[1]}${overflow}`
    : "";
  throw new NiftiError(
    name,
    `voxel [${xyz.join(", ")}]${where} is ${data[first]}${why}; ${count} non-finite voxel(s) in all`,
  );
}

/** Rejects voxel sizes (affine column norms) that are not finite or lie outside {@link VOXEL_SIZE_RANGE_MM}. */
function assertVoxelSizes(affine: Affine, source: AffineSource, name: string): void {
  const sizes = spacingOf(affine);
  const { min, max } = VOXEL_SIZE_RANGE_MM;
  if (sizes.every((s) => Number.isFinite(s) && s >= min && s <= max)) return;
  throw new NiftiError(
    name,
    `voxel size [${sizes.map((s) => +s.toPrecision(6)).join(", ")}] mm (from the ${source}) is outside ` +
      `the accepted ${min}..${max} mm: the header's ${
        source === "base" ? "pixdim" : source
      } is degenerate or absurd`,
  );
}

function parseHeader(bytes: Uint8Array, name: string): NiftiHeader {
  if (bytes.length < 348) {
    throw new NiftiError(name, `too short for a NIfTI-1 header (${bytes.length} bytes, need 348)`);
  }
  // Give the library only the 348 header bytes: its extension parser can loop on corrupt extension sizes.
  const headerBuf = bytes.slice(0, 348).buffer;
  const view = new DataView(headerBuf);
  const sizeLE = view.getInt32(0, true), sizeBE = view.getInt32(0, false);
  if (sizeLE !== 348 && sizeBE !== 348) {
    if (view.getInt32(0, true) === 540 || view.getInt32(0, false) === 540) {
      throw new NiftiError(name, "NIfTI-2 files are not supported (only NIfTI-1)");
    }
    throw new NiftiError(name, `wrong sizeof_hdr (${sizeLE}): not a NIfTI-1 file`);
  }
  const magic = String.fromCharCode(bytes[344], bytes[345], bytes[346]);
  if (magic !== "n+1" && magic !== "ni1") {
    throw new NiftiError(name, `wrong magic ${JSON.stringify(magic)} at byte 344 (expected "n+1")`);
  }
  if (magic === "ni1") throw new NiftiError(name, "separate .hdr/.img pairs are not supported (magic 'ni1')");
  let h: nifti.NIFTI1;
  try {
    const parsed = nifti.readHeader(headerBuf);
    if (!(parsed instanceof nifti.NIFTI1)) throw new Error("not a NIfTI-1 header");
    h = parsed;
  } catch (e) {
    throw new NiftiError(name, `unreadable header (${(e as Error).message})`);
  }
  const le = sizeLE === 348;
  const f32 = (off: number) => view.getFloat32(off, le);
  const srow: [number[], number[], number[]] = [[], [], []];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) srow[r].push(f32(280 + (r * 4 + c) * 4));
  const dim = h.dims.slice(0, 8);
  if (!(dim[0] >= 1 && dim[0] <= 7)) throw new NiftiError(name, `dim[0] = ${dim[0]} is outside 1..7`);
  for (let i = 1; i <= dim[0]; i++) {
    if (!(dim[i] >= 1)) throw new NiftiError(name, `dim[${i}] = ${dim[i]} is not a positive size`);
  }
  if (!(h.vox_offset >= 348) || !Number.isFinite(h.vox_offset)) {
    throw new NiftiError(name, `vox_offset ${h.vox_offset} is invalid (must be >= 348)`);
  }
  return {
    littleEndian: le,
    dim,
    pixdim: h.pixDims.slice(0, 8),
    datatype: h.datatypeCode,
    bitpix: h.numBitsPerVoxel,
    voxOffset: h.vox_offset,
    sclSlope: h.scl_slope,
    sclInter: h.scl_inter,
    xyztUnits: h.xyzt_units,
    qformCode: h.qform_code,
    sformCode: h.sform_code,
    quaternBCD: [h.quatern_b, h.quatern_c, h.quatern_d],
    qoffset: [h.qoffset_x, h.qoffset_y, h.qoffset_z],
    srow,
    description: h.description,
    magic,
  };
}

/** Decodes raw voxels (x fastest on disk) into channel-first C-order float32, applying slope/inter in float64. */
function decodeVoxels(
  bytes: Uint8Array,
  offset: number,
  datatype: number,
  littleEndian: boolean,
  [nx, ny, nz, nc]: number[],
  channels: number[],
  slope: number,
  inter: number,
): Float32Array {
  const nSpatial = nx * ny * nz;
  const out = new Float32Array(channels.length * nSpatial);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bpv = NIFTI_DATATYPES[datatype].bytes;
  const nativeLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  // Fast path: a typed-array view when byte order matches and the offset is aligned.
  let typed: ArrayLike<number> | null = null;
  const abs = bytes.byteOffset + offset;
  if (littleEndian === nativeLE && abs % bpv === 0) {
    const buf = bytes.buffer;
    const len = nSpatial * nc;
    switch (datatype) {
      case 2:
        typed = new Uint8Array(buf, abs, len);
        break;
      case 256:
        typed = new Int8Array(buf, abs, len);
        break;
      case 4:
        typed = new Int16Array(buf, abs, len);
        break;
      case 512:
        typed = new Uint16Array(buf, abs, len);
        break;
      case 8:
        typed = new Int32Array(buf, abs, len);
        break;
      case 768:
        typed = new Uint32Array(buf, abs, len);
        break;
      case 16:
        typed = new Float32Array(buf, abs, len);
        break;
      case 64:
        typed = new Float64Array(buf, abs, len);
        break;
    }
  }
  const read = (i: number): number => {
    const p = offset + i * bpv;
    switch (datatype) {
      case 2:
        return view.getUint8(p);
      case 256:
        return view.getInt8(p);
      case 4:
        return view.getInt16(p, littleEndian);
      case 512:
        return view.getUint16(p, littleEndian);
      case 8:
        return view.getInt32(p, littleEndian);
      case 768:
        return view.getUint32(p, littleEndian);
      case 16:
        return view.getFloat32(p, littleEndian);
      case 64:
        return view.getFloat64(p, littleEndian);
      case 1024:
        return Number(view.getBigInt64(p, littleEndian));
      case 1280:
        return Number(view.getBigUint64(p, littleEndian));
    }
    return NaN;
  };
  const identity = slope === 1 && inter === 0;
  const yz = ny * nz;
  for (let ci = 0; ci < channels.length; ci++) {
    const c = channels[ci];
    const src0 = c * nSpatial;
    const dst0 = ci * nSpatial;
    // Disk order is x fastest; ours is z fastest: walk the source linearly, scatter with strides.
    let s = src0;
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        let d = dst0 + y * nz + z;
        if (typed) {
          if (identity) {
            for (let x = 0; x < nx; x++, s++, d += yz) out[d] = typed[s];
          } else {
            for (let x = 0; x < nx; x++, s++, d += yz) out[d] = typed[s] * slope + inter;
          }
        } else {
          for (let x = 0; x < nx; x++, s++, d += yz) out[d] = identity ? read(s) : read(s) * slope + inter;
        }
      }
    }
  }
  return out;
}

function bestAffine(
  h: NiftiHeader,
  name: string,
): { affine: Affine; nibabelAffine: Affine; source: AffineSource } {
  const sform = (): Affine => [h.srow[0].slice(), h.srow[1].slice(), h.srow[2].slice(), [0, 0, 0, 1]];
  const nibabelAffine = h.sformCode !== 0
    ? sform()
    : h.qformCode !== 0
    ? qformAffine(h, name)
    : baseAffine(h);
  let source: AffineSource = h.sformCode !== 0 ? "sform" : h.qformCode !== 0 ? "qform" : "base";
  let affine = nibabelAffine;
  // Reference behaviour: MONAI's correct_nifti_header_if_necessary / rectify_header_sform_qform.
  const d = h.dim[0];
  if (d >= 3 && d < 5) {
    const zooms = h.pixdim.slice(1, d + 1);
    const norms = (a: Affine) =>
      Array.from(
        { length: d },
        (_, c) => Math.sqrt(a.slice(0, d).reduce((s, row) => s + row[c] * row[c], 0)),
      );
    const close = (a: number[], b: number[]) =>
      a.every((v, i) => Math.abs(v - b[i]) <= 1e-8 + 1e-5 * Math.abs(b[i]));
    if (!close(zooms, norms(nibabelAffine))) {
      const sf = sform();
      let qf: Affine | null = null;
      try {
        qf = qformAffine(h, name);
      } catch {
        qf = null;
      }
      const sformMismatch = !close(norms(sf), zooms);
      const qformMismatch = qf === null || !close(norms(qf), zooms);
      if (h.sformCode !== 0 && sformMismatch && !qformMismatch && qf) {
        affine = qf;
        source = "qform-replaced-sform";
      } else if (h.sformCode === 0 && h.qformCode !== 0 && qformMismatch && !sformMismatch) {
        affine = sf;
        source = "sform";
      }
    }
  }
  return { affine, nibabelAffine, source };
}

/** The qform affine of a header (nibabel get_qform: quaternion, pixdim with qfac, qoffset). */
export function qformAffine(h: NiftiHeader, name = "<header>"): Affine {
  const [b, c, d] = h.quaternBCD;
  let w2 = 1 - (b * b + c * c + d * d);
  if (w2 < 0) {
    if (w2 < -3 * 1.1920928955078125e-7) {
      throw new NiftiError(name, `qform quaternion (${b}, ${c}, ${d}) has norm > 1`);
    }
    w2 = 0;
  }
  const rot = quaternionToMatrix(Math.sqrt(w2), b, c, d);
  const vox = h.pixdim.slice(1, 4);
  if (vox.some((v) => v < 0)) throw new NiftiError(name, `negative pixdim ${vox.join(", ")} in qform`);
  // nibabel fixes a qfac other than ±1 to 1 on load.
  const qfac = h.pixdim[0] === -1 ? -1 : 1;
  vox[2] *= qfac;
  const a: Affine = [[0, 0, 0, h.qoffset[0]], [0, 0, 0, h.qoffset[1]], [0, 0, 0, h.qoffset[2]], [0, 0, 0, 1]];
  for (let r = 0; r < 3; r++) for (let col = 0; col < 3; col++) a[r][col] = rot[r][col] * vox[col];
  return a;
}

/** The Analyze base affine nibabel uses without qform/sform: diag(-px, py, pz), origin at the volume centre. */
export function baseAffine(h: NiftiHeader): Affine {
  const nd = h.dim[0];
  const shape = [1, 2, 3].map((i) => (i <= nd ? h.dim[i] : 1));
  const zooms = [1, 2, 3].map((i) => (i <= nd ? h.pixdim[i] : 1));
  zooms[0] *= -1;
  const a: Affine = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]];
  for (let i = 0; i < 3; i++) {
    a[i][i] = zooms[i];
    a[i][3] = -((shape[i] - 1) / 2) * zooms[i];
  }
  return a;
}
