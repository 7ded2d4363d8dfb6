/**
 * Host-side serialization: safetensors, PyTorch `.pt` (zip and legacy), key-name conversion, NaN checks.
 * Parsing works on bytes and loads in a browser; disk access is in the `*_file.ts` wrappers (and atomic.ts).
 */
import { isSafetensors, readSafetensors } from "./safetensors.ts";
import { isLegacyTorch, readTorchLegacy, readTorchZip, type TorchLoadOptions } from "./torch_pickle.ts";
import { SerializationError, type StateDict } from "./types.ts";
import { isZip } from "./zip.ts";
import { assertFinite } from "./finite.ts";

export {
  type HostDType,
  type HostTensor,
  isFloatDType,
  numelOf,
  SerializationError,
  type StateDict,
} from "./types.ts";
export { removeStaleTempFiles, writeFileAtomic } from "./atomic.ts";
export { assertFinite } from "./finite.ts";
export { isSafetensors, readSafetensors, type SafetensorsContent, writeSafetensors } from "./safetensors.ts";
export { loadSafetensors, saveSafetensors } from "./safetensors_file.ts";
export { loadStateDictFile, readStateDictFile } from "./state_dict_file.ts";
export {
  isLegacyTorch,
  LEGACY_MAGIC,
  readTorchLegacy,
  readTorchStateDict,
  readTorchZip,
  type TorchLoadOptions,
} from "./torch_pickle.ts";
export {
  coreKeyToGm,
  detectKeyNaming,
  gmKeyToCore,
  type KeyNaming,
  type ModelKind,
  type ProjectionPolicy,
  toCoreNames,
  type ToCoreOptions,
  toGMNames,
} from "./key_names.ts";
export { decodeElements, DTYPE_BYTES, floatToHalf, halfToFloat } from "./dtypes.ts";

/** File formats loadStateDictFile recognises. */
export type StateDictFormat = "safetensors" | "torch-zip" | "torch-legacy";

/** Options of loadStateDictFile / parseStateDict. */
export interface LoadOptions extends TorchLoadOptions {
  /** Reject non-finite values (assertFinite); default true. */
  checkFinite?: boolean;
}

/** A loaded state dict with the format it came in and, for safetensors, its `__metadata__`. */
export interface LoadedStateDict {
  /** The tensors, in file order. */
  stateDict: StateDict;
  /** Format detected from the magic bytes. */
  format: StateDictFormat;
  /** safetensors `__metadata__` (empty for `.pt`). */
  metadata: Record<string, string>;
}

/** Detects the format of a checkpoint from its first bytes, or returns null. */
export function detectFormat(bytes: Uint8Array): StateDictFormat | null {
  if (isZip(bytes)) return "torch-zip";
  if (isSafetensors(bytes)) return "safetensors";
  if (isLegacyTorch(bytes)) return "torch-legacy";
  return null;
}

/** A plausible u64 header length (< 4 GiB) but no valid header: let the safetensors reader say what is wrong. */
function looksLikeSafetensorsLength(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  return bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0 &&
    (bytes.length === 8 || bytes[8] === 0x7b);
}

/** Parses checkpoint bytes of any supported format (chosen by magic bytes); `file` names the source in errors. */
export function parseStateDict(bytes: Uint8Array, file: string, options: LoadOptions = {}): LoadedStateDict {
  const format = detectFormat(bytes);
  let result: LoadedStateDict;
  if (format === "torch-zip") {
    result = { stateDict: readTorchZip(bytes, file, options), format, metadata: {} };
  } else if (format === "torch-legacy") {
    result = { stateDict: readTorchLegacy(bytes, file, options), format, metadata: {} };
  } else if (format === "safetensors" || looksLikeSafetensorsLength(bytes)) {
    const { tensors, metadata } = readSafetensors(bytes, file);
    let sd = tensors;
    const keys = [...sd.keys()];
    if (
      (options.stripModulePrefix ?? true) && keys.length > 0 && keys.every((k) => k.startsWith("module."))
    ) {
      sd = new Map([...sd].map(([k, v]) => [k.slice(7), v]));
    }
    result = { stateDict: sd, format: "safetensors", metadata };
  } else if (bytes.length < 8) {
    throw new SerializationError(file, `truncated file (${bytes.length} bytes)`);
  } else {
    throw new SerializationError(
      file,
      "unrecognised checkpoint format (not safetensors, a torch zip archive or a legacy torch pickle)",
    );
  }
  if (options.checkFinite ?? true) assertFinite(result.stateDict, file);
  return result;
}
