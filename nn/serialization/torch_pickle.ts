/**
 * PyTorch checkpoint reader: the zip format of torch.save (PyTorch ≥ 1.6) and the legacy non-zip format
 * (magic number, protocol version, sys_info, main pickle, storage-key list, raw storages). Only whitelisted globals
 * are resolved; nothing from the file is executed.
 */
import { decodeElements, DTYPE_BYTES } from "./dtypes.ts";
import { type PyCallable, unpickle, type UnpicklerHooks } from "./pickle.ts";
import { type HostDType, type HostTensor, numelOf, SerializationError, type StateDict } from "./types.ts";
import { isZip, openZip } from "./zip.ts";

/** Magic number the legacy format starts with (pickled as a LONG1). */
export const LEGACY_MAGIC: bigint = 0x1950a86a20f9469cfc6cn;

const STORAGE_DTYPES: Readonly<Record<string, HostDType>> = {
  FloatStorage: "float32",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  DoubleStorage: "float64",
  IntStorage: "int32",
  LongStorage: "int64",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

const TORCH_DTYPES: Readonly<Record<string, HostDType>> = {
  float32: "float32",
  float: "float32",
  float16: "float16",
  half: "float16",
  bfloat16: "bfloat16",
  float64: "float64",
  double: "float64",
  int32: "int32",
  int: "int32",
  int64: "int64",
  long: "int64",
  int16: "int16",
  short: "int16",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
};

/** Options for picking the state dict out of a checkpoint. */
export interface TorchLoadOptions {
  /** Explicit path of dict keys to the state dict (e.g. `["state_dict"]`); default: automatic unwrapping. */
  entry?: string[];
  /** Strip a `module.` prefix present on every key (DataParallel/DDP); default true. */
  stripModulePrefix?: boolean;
}

class StorageType {
  constructor(readonly dtype: HostDType) {}
}

class DTypeMarker {
  constructor(readonly dtype: HostDType) {}
}

class TypeMarker {
  constructor(readonly qualname: string) {}
}

class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: HostDType,
    readonly numel: number,
    readonly viewOffset: number,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  /** Tensor attributes set by BUILD are not needed. */
  setState(_state: unknown): void {}
}

function callable(qualname: string, call: (args: unknown[]) => unknown): PyCallable {
  return { qualname, call };
}

function intList(x: unknown, what: string, file: string): number[] {
  if (!Array.isArray(x) || !x.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SerializationError(file, `${what} is not a tuple of non-negative ints: ${String(x)}`);
  }
  return x.slice() as number[];
}

function rebuildTensor(args: unknown[], file: string): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) {
    throw new SerializationError(file, "_rebuild_tensor: first argument is not a storage");
  }
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
    throw new SerializationError(file, `_rebuild_tensor: bad storage offset ${String(offset)}`);
  }
  const shape = intList(size, "tensor size", file);
  const strides = intList(stride, "tensor stride", file);
  if (shape.length !== strides.length) {
    throw new SerializationError(file, `tensor size [${shape}] and stride [${strides}] differ in rank`);
  }
  return new TensorRef(storage, offset as number, shape, strides);
}

function makeHooks(file: string, storages: Map<string, StorageRef>): UnpicklerHooks {
  return {
    resolveGlobal(module: string, name: string): unknown {
      const q = `${module}.${name}`;
      if (q === "collections.OrderedDict" || q === "builtins.dict") {
        return callable(q, (args) => {
          const m = new Map<unknown, unknown>();
          if (Array.isArray(args[0])) {
            for (const kv of args[0] as unknown[][]) if (Array.isArray(kv)) m.set(kv[0], kv[1]);
          }
          return m;
        });
      }
      if (module === "torch._utils") {
        if (name === "_rebuild_tensor_v2" || name === "_rebuild_tensor") {
          return callable(q, (a) => rebuildTensor(a, file));
        }
        if (name === "_rebuild_parameter" || name === "_rebuild_parameter_with_state") {
          return callable(q, (a) => a[0]);
        }
      }
      if (q === "torch._tensor._rebuild_from_type_v2") {
        return callable(q, (a) => {
          const [fn, , args] = a;
          if (!fn || typeof (fn as PyCallable).call !== "function" || !Array.isArray(args)) {
            throw new SerializationError(file, "_rebuild_from_type_v2: bad arguments");
          }
          return (fn as PyCallable).call(args as unknown[]);
        });
      }
      if (q === "torch.nn.parameter.Parameter" || q === "torch.Tensor") return new TypeMarker(q);
      if (module === "torch" && name in STORAGE_DTYPES) return new StorageType(STORAGE_DTYPES[name]);
      if (module === "torch" && name in TORCH_DTYPES) return new DTypeMarker(TORCH_DTYPES[name]);
      throw new SerializationError(
        file,
        `pickle: global '${q}' is not allowed (only tensors and dicts are read)`,
      );
    },
    persistentLoad(pid: unknown): unknown {
      if (!Array.isArray(pid) || pid[0] !== "storage" || (pid.length !== 5 && pid.length !== 6)) {
        throw new SerializationError(file, `pickle: unsupported persistent id ${String(pid)}`);
      }
      const [, type, key, , numel, view] = pid;
      if (!(type instanceof StorageType)) {
        throw new SerializationError(file, "pickle: persistent id without a storage type");
      }
      if (typeof key !== "string") throw new SerializationError(file, "pickle: storage key is not a string");
      if (!Number.isSafeInteger(numel) || (numel as number) < 0) {
        throw new SerializationError(file, `pickle: bad storage size ${String(numel)}`);
      }
      let root = storages.get(key);
      if (!root) {
        root = new StorageRef(key, type.dtype, numel as number, 0);
        storages.set(key, root);
      }
      if (view !== undefined && view !== null) {
        // Legacy storage view: (view_key, offset, size) in elements of the root storage.
        if (!Array.isArray(view) || !Number.isSafeInteger(view[1]) || !Number.isSafeInteger(view[2])) {
          throw new SerializationError(file, "pickle: bad storage view metadata");
        }
        return new StorageRef(key, type.dtype, view[2] as number, view[1] as number);
      }
      return root;
    },
  };
}

/** Whether `bytes` start like a legacy (non-zip) torch.save file: protocol-2 pickle of a LONG1 magic number. */
export function isLegacyTorch(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x80 && bytes[2] === 0x8a;
}

/** Decoded storages by key, and how to turn tensor references into host tensors. */
class Materialiser {
  private decoded = new Map<string, Float32Array | Int32Array>();
  private handedOut = new Set<string>();
  constructor(
    private readonly file: string,
    private readonly raw: (s: StorageRef) => Uint8Array,
  ) {}

  tensor(name: string, t: TensorRef): HostTensor {
    const { storage, shape, stride } = t;
    const file = this.file;
    const n = numelOf(shape);
    let data = this.decoded.get(storage.key);
    if (!data) {
      const bytes = this.raw(storage);
      const rootNumel = Math.floor(bytes.length / DTYPE_BYTES[storage.dtype]);
      data = decodeElements(bytes, storage.dtype, rootNumel, file, `storage '${storage.key}' of '${name}'`);
      this.decoded.set(storage.key, data);
    }
    const base = storage.viewOffset + t.offset;
    const limit = storage.viewOffset + storage.numel;
    if (limit > data.length) {
      throw new SerializationError(
        file,
        `tensor '${name}': storage '${storage.key}' has ${data.length} elements, ${limit} expected`,
      );
    }
    if (n > 0) {
      let last = base;
      for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
      if (last >= limit) {
        throw new SerializationError(
          file,
          `tensor '${name}': view (offset ${t.offset}, size [${shape}], stride [${stride}]) exceeds its storage of ${storage.numel} elements`,
        );
      }
      if (n > 2 ** 24 && n > storage.numel) {
        throw new SerializationError(file, `tensor '${name}': broadcast view of ${n} elements is too large`);
      }
    }
    let contiguous = true;
    for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
      if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
      expect *= shape[d];
    }
    let out: Float32Array | Int32Array;
    if (contiguous && base === 0 && n === data.length && !this.handedOut.has(storage.key)) {
      // The tensor is its whole storage: hand the decoded array over instead of copying it (large checkpoints).
      this.handedOut.add(storage.key);
      out = data;
    } else if (contiguous) {
      out = data.slice(base, base + n);
    } else {
      out = data instanceof Float32Array ? new Float32Array(n) : new Int32Array(n);
      const rank = shape.length;
      const idx = new Array<number>(rank).fill(0);
      let src = base;
      for (let i = 0; i < n; i++) {
        out[i] = data[src];
        for (let d = rank - 1; d >= 0; d--) {
          if (++idx[d] < shape[d]) {
            src += stride[d];
            break;
          }
          src -= (shape[d] - 1) * stride[d];
          idx[d] = 0;
        }
      }
    }
    return { dtype: storage.dtype, shape: shape.slice(), data: out };
  }
}

const WRAPPER_KEYS = [
  "state_dict",
  "model_state_dict",
  "model",
  "module",
  "net",
  "network",
  "params",
  "weights",
];

function isTensorMap(x: unknown): x is Map<unknown, TensorRef> {
  if (!(x instanceof Map) || x.size === 0) return false;
  for (const [k, v] of x) if (typeof k !== "string" || !(v instanceof TensorRef)) return false;
  return true;
}

function hasTensors(x: unknown, depth = 0): boolean {
  if (depth > 8 || !(x instanceof Map)) return false;
  for (const v of x.values()) if (v instanceof TensorRef || hasTensors(v, depth + 1)) return true;
  return false;
}

function findStateDict(root: unknown, file: string, options: TorchLoadOptions): Map<string, TensorRef> {
  let node = root;
  if (options.entry) {
    for (const k of options.entry) {
      if (!(node instanceof Map) || !node.has(k)) {
        throw new SerializationError(file, `checkpoint has no entry '${options.entry.join(".")}'`);
      }
      node = node.get(k);
    }
  }
  for (let depth = 0; depth < 8; depth++) {
    if (isTensorMap(node)) return node as Map<string, TensorRef>;
    if (!(node instanceof Map)) break;
    const m = node as Map<unknown, unknown>;
    const wrapper = WRAPPER_KEYS.find((k) => hasTensors(m.get(k)) || isTensorMap(m.get(k)));
    if (wrapper) {
      node = m.get(wrapper);
      continue;
    }
    const children = [...m.values()].filter((v) => hasTensors(v));
    if (children.length === 1) {
      node = children[0];
      continue;
    }
    // A dict mixing tensors with non-tensor entries: keep the tensors (e.g. optimizer-free custom checkpoints).
    const direct = [...m].filter(([k, v]) => typeof k === "string" && v instanceof TensorRef);
    if (direct.length > 0 && children.length === 0) return new Map(direct as [string, TensorRef][]);
    const keys = [...m.keys()].map(String).join(", ");
    throw new SerializationError(
      file,
      `cannot tell which entry holds the state dict (keys: ${keys}); pass options.entry`,
    );
  }
  throw new SerializationError(file, "no state dict (a dict of tensors) found in the checkpoint");
}

function toStateDict(refs: Map<string, TensorRef>, mat: Materialiser, options: TorchLoadOptions): StateDict {
  const keys = [...refs.keys()];
  const strip = (options.stripModulePrefix ?? true) && keys.every((k) => k.startsWith("module."));
  const out: StateDict = new Map();
  for (const [k, ref] of refs) out.set(strip ? k.slice(7) : k, mat.tensor(k, ref));
  return out;
}

function wrapUnexpected<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SerializationError) throw e;
    throw new SerializationError(file, `corrupt or unsupported file (${(e as Error).message})`);
  }
}

/** Reads the state dict from a zip-format torch.save archive held in memory. */
export function readTorchZip(bytes: Uint8Array, file = "<pt>", options: TorchLoadOptions = {}): StateDict {
  return wrapUnexpected(file, () => {
    const zip = openZip(bytes, file);
    const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n) || n === "data.pkl");
    if (!pkl) {
      throw new SerializationError(file, "zip archive has no <archive>/data.pkl (not a torch.save file?)");
    }
    const prefix = pkl.slice(0, pkl.length - "data.pkl".length);
    const order = zip.entries.get(`${prefix}byteorder`);
    if (order) {
      const bo = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
      if (bo !== "little") throw new SerializationError(file, `byte order '${bo}' is not supported`);
    }
    const storages = new Map<string, StorageRef>();
    const { value } = unpickle(zip.read(pkl), makeHooks(file, storages), file);
    const refs = findStateDict(value, file, options);
    const mat = new Materialiser(file, (s) => {
      const bytes = zip.read(`${prefix}data/${s.key}`);
      const need = s.numel * DTYPE_BYTES[s.dtype];
      if (bytes.length < need) {
        throw new SerializationError(file, `storage '${s.key}' has ${bytes.length} bytes, ${need} expected`);
      }
      return bytes;
    });
    return toStateDict(refs, mat, options);
  });
}

/** Reads the state dict from a legacy (pre-1.6, non-zip) torch.save file held in memory. */
export function readTorchLegacy(bytes: Uint8Array, file = "<pt>", options: TorchLoadOptions = {}): StateDict {
  return wrapUnexpected(file, () => {
    const plain: UnpicklerHooks = {
      resolveGlobal: (m, n) => {
        throw new SerializationError(file, `pickle: global '${m}.${n}' not allowed in the legacy header`);
      },
    };
    const magic = unpickle(bytes, plain, file, 0);
    if (magic.value !== LEGACY_MAGIC) {
      throw new SerializationError(file, "not a torch.save file (bad legacy magic number)");
    }
    const proto = unpickle(bytes, plain, file, magic.end);
    if (proto.value !== 1001) {
      throw new SerializationError(file, `unsupported legacy protocol version ${String(proto.value)}`);
    }
    const sys = unpickle(bytes, plain, file, proto.end);
    if (sys.value instanceof Map && sys.value.get("little_endian") === false) {
      throw new SerializationError(file, "big-endian legacy checkpoints are not supported");
    }
    const storages = new Map<string, StorageRef>();
    const main = unpickle(bytes, makeHooks(file, storages), file, sys.end);
    const keysPickle = unpickle(bytes, plain, file, main.end);
    const keys = keysPickle.value;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) {
      throw new SerializationError(file, "legacy storage-key list is not a list of strings");
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const located = new Map<string, Uint8Array>();
    let pos = keysPickle.end;
    for (const key of keys as string[]) {
      const s = storages.get(key);
      if (!s) throw new SerializationError(file, `legacy storage '${key}' is not referenced by the pickle`);
      if (pos + 8 > bytes.length) {
        throw new SerializationError(
          file,
          `truncated file: size of storage '${key}' missing at offset ${pos}`,
        );
      }
      const count = dv.getBigInt64(pos, true);
      const nbytes = count * BigInt(DTYPE_BYTES[s.dtype]);
      if (count < 0n || nbytes > BigInt(bytes.length - pos - 8)) {
        throw new SerializationError(
          file,
          `truncated file: storage '${key}' needs ${nbytes} bytes at offset ${
            pos + 8
          }, file has ${bytes.length}`,
        );
      }
      located.set(key, bytes.subarray(pos + 8, pos + 8 + Number(nbytes)));
      pos += 8 + Number(nbytes);
    }
    const refs = findStateDict(main.value, file, options);
    const mat = new Materialiser(file, (s) => {
      const b = located.get(s.key);
      if (!b) throw new SerializationError(file, `legacy storage '${s.key}' has no data`);
      return b;
    });
    return toStateDict(refs, mat, options);
  });
}

/** Reads the state dict from a torch.save file (zip or legacy format, chosen by magic bytes). */
export function readTorchStateDict(
  bytes: Uint8Array,
  file = "<pt>",
  options: TorchLoadOptions = {},
): StateDict {
  if (isZip(bytes)) return readTorchZip(bytes, file, options);
  if (isLegacyTorch(bytes)) return readTorchLegacy(bytes, file, options);
  throw new SerializationError(file, "not a PyTorch checkpoint (neither a zip archive nor a legacy pickle)");
}
