/**
 * safetensors reader/writer: u64-LE header length, a JSON header `{name: {dtype, shape, data_offsets}, __metadata__}`
 * padded with spaces to a multiple of 8 bytes, then the raw little-endian data.
 */
import { decodeElements, DTYPE_BYTES } from "./dtypes.ts";
import { type HostDType, type HostTensor, numelOf, SerializationError, type StateDict } from "./types.ts";

/** Tensors and string metadata of a safetensors file. */
export interface SafetensorsContent {
  /** Tensors in file (data offset) order. */
  tensors: StateDict;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

const READ_DTYPES: Readonly<Record<string, HostDType>> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  F64: "float64",
  I32: "int32",
  I64: "int64",
  I16: "int16",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};

/** Largest header we accept (the format's own readers use 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/** Whether `bytes` look like a safetensors file (plausible header length followed by `{`). */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getBigUint64(0, true);
  return n >= 2n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b;
}

/** Parses a safetensors file held in memory; `file` names it in errors. Reads F32/F16/BF16/F64 → float32, I32/I64/I16/I8/U8/BOOL → int32. */
export function readSafetensors(bytes: Uint8Array, file = "<safetensors>"): SafetensorsContent {
  if (bytes.length < 8) {
    throw new SerializationError(
      file,
      `truncated safetensors file (${bytes.length} bytes, header length needs 8)`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = dv.getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    throw new SerializationError(
      file,
      `truncated safetensors file: header length ${headerLen} exceeds the ${bytes.length - 8} bytes after it`,
    );
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw new SerializationError(file, `safetensors header too large (${headerLen} bytes)`);
  }
  const hLen = Number(headerLen);
  let header: unknown;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + hLen));
  } catch {
    throw new SerializationError(file, "bad safetensors header JSON (not valid UTF-8)");
  }
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SerializationError(file, `bad safetensors header JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new SerializationError(file, "bad safetensors header JSON: not an object");
  }
  const dataStart = 8 + hLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; begin: number; end: number; dtype: HostDType; shape: number[] }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (info === null || typeof info !== "object" || Array.isArray(info)) {
        throw new SerializationError(file, "bad safetensors header: __metadata__ is not a string map");
      }
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== "string") {
          throw new SerializationError(file, `bad safetensors header: __metadata__.${k} is not a string`);
        }
        metadata[k] = v;
      }
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (t === null || typeof t !== "object") {
      throw new SerializationError(file, `bad safetensors header entry for '${name}'`);
    }
    const dtype = typeof t.dtype === "string" ? READ_DTYPES[t.dtype] : undefined;
    if (!dtype) {
      throw new SerializationError(file, `tensor '${name}': unsupported dtype ${JSON.stringify(t.dtype)}`);
    }
    const shape = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SerializationError(file, `tensor '${name}': bad shape ${JSON.stringify(shape)}`);
    }
    const off = t.data_offsets;
    if (
      !Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      off[1] < off[0]
    ) {
      throw new SerializationError(file, `tensor '${name}': bad data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as number[];
    if (end > dataLen) {
      throw new SerializationError(
        file,
        `tensor '${name}': data_offsets [${begin}, ${end}] out of range (data section has ${dataLen} bytes; truncated file?)`,
      );
    }
    const want = numelOf(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== want) {
      throw new SerializationError(
        file,
        `tensor '${name}': data_offsets span ${
          end - begin
        } bytes but shape [${shape}] of ${dtype} needs ${want}`,
      );
    }
    entries.push({ name, begin, end, dtype, shape: shape.slice() });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].begin < entries[i - 1].end) {
      throw new SerializationError(
        file,
        `tensors '${entries[i - 1].name}' and '${entries[i].name}' overlap in the data section`,
      );
    }
  }
  const tensors: StateDict = new Map();
  for (const e of entries) {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    const data = decodeElements(raw, e.dtype, numelOf(e.shape), file, `tensor '${e.name}'`);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Serialises tensors as safetensors bytes: Float32Array data → F32, Int32Array data → I32, in map order; metadata kept. */
export function writeSafetensors(tensors: StateDict, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const parts: { t: HostTensor; begin: number }[] = [];
  for (const [name, t] of tensors) {
    if (name === "__metadata__") throw new Error("safetensors: a tensor may not be named __metadata__");
    const n = numelOf(t.shape);
    if (t.data.length !== n) {
      throw new Error(
        `safetensors: tensor '${name}' has ${t.data.length} elements but shape [${t.shape}] needs ${n}`,
      );
    }
    const dtype = t.data instanceof Float32Array ? "F32" : "I32";
    header[name] = { dtype, shape: t.shape.slice(), data_offsets: [offset, offset + 4 * n] };
    parts.push({ t, begin: offset });
    offset += 4 * n;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20); // The format pads the header with spaces.
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  const base = 8 + json.length;
  for (const { t, begin } of parts) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), base + begin);
  }
  return out;
}
