/**
 * State-dict key naming: MONAI core (1.4+) vs GenerativeModels (GM). Differences (SPEC.md §2.7, §6.6, appendix B):
 * attention `to_q/to_k/to_v` (GM) ↔ `attn.to_q/...` (core), GM `proj_attn` ↔ core `attn.out_proj`, and the
 * nearest-neighbour upsampler conv `conv.conv` (GM) ↔ `postconv.conv` (core).
 */
import { type HostTensor, SerializationError, type StateDict } from "./types.ts";

/** Which network a state dict belongs to (decides where upsampler convs can be). */
export type ModelKind =
  | "autoencoderkl"
  | "diffusion_unet"
  | "patch_discriminator"
  | "attention_block"
  | "upsample"
  | "perceptual";

/** Naming convention of a state dict. */
export type KeyNaming = "gm" | "core";

/**
 * What to do with GM `proj_attn` when converting to core names: `rename` → `attn.out_proj` (what MONAI's UNet
 * `load_old_state_dict` does; needs include_fc=True); `drop` → omit (core include_fc=False, the GM forward exactly);
 * `identity` → `attn.out_proj` = identity weight, zero bias (include_fc=True with GM's forward; MONAI's AE loader).
 */
export type ProjectionPolicy = "rename" | "drop" | "identity";

/** Options of toCoreNames. */
export interface ToCoreOptions {
  /** Handling of GM `proj_attn` tensors; default `rename`. */
  projection?: ProjectionPolicy;
}

const GM_QKV = /(^|\.)(to_q|to_k|to_v|proj_attn)\.(weight|bias)$/;
// Spatial-transformer (cross-attention) blocks are named differently again; they are not used here and left alone.
const TRANSFORMER = /(^|\.)transformer_blocks\./;
const CORE_QKV = /(^|\.)attn\.(to_q|to_k|to_v|out_proj|qkv)\.(weight|bias)$/;

function upsamplerPatterns(kind: ModelKind): { gm: RegExp; core: RegExp } | null {
  switch (kind) {
    case "autoencoderkl":
      // Decoder blocks with a nested conv.conv are the upsamplers (block 0 is a plain conv: `blocks.0.conv.weight`).
      return {
        gm: /^(decoder\.blocks\.\d+\.)conv\.conv\./,
        core: /^(decoder\.blocks\.\d+\.)postconv\.conv\./,
      };
    case "diffusion_unet":
      return { gm: /(\.upsampler\.)conv\.conv\./, core: /(\.upsampler\.)postconv\.conv\./ };
    case "upsample":
      return { gm: /^((?:.+\.)?)conv\.conv\./, core: /^((?:.+\.)?)postconv\.conv\./ };
    default:
      return null;
  }
}

/** Returns the naming convention the keys follow, or null when they contain nothing that differs between the two. */
export function detectKeyNaming(keys: Iterable<string>, kind: ModelKind): KeyNaming | null {
  const up = upsamplerPatterns(kind);
  let gm: string | undefined, core: string | undefined;
  for (const k of keys) {
    if (TRANSFORMER.test(k)) continue;
    const isCore = CORE_QKV.test(k) || (up !== null && up.core.test(k));
    const isGm = !isCore && (GM_QKV.test(k) || (up !== null && up.gm.test(k)));
    if (isCore) core ??= k;
    if (isGm) gm ??= k;
  }
  if (gm && core) throw new Error(`state dict mixes GM ('${gm}') and MONAI core ('${core}') key names`);
  return gm ? "gm" : core ? "core" : null;
}

/** Maps one GM key to its core name (null when the key is dropped by the projection policy). */
export function gmKeyToCore(
  key: string,
  kind: ModelKind,
  projection: ProjectionPolicy = "rename",
): string | null {
  if (TRANSFORMER.test(key) || CORE_QKV.test(key)) return key;
  const m = GM_QKV.exec(key);
  if (m) {
    const prefix = key.slice(0, m.index + m[1].length);
    if (m[2] === "proj_attn") return projection === "drop" ? null : `${prefix}attn.out_proj.${m[3]}`;
    return `${prefix}attn.${m[2]}.${m[3]}`;
  }
  const up = upsamplerPatterns(kind);
  if (up && up.gm.test(key)) return key.replace(up.gm, "$1postconv.conv.");
  return key;
}

/** Maps one core key to its GM name (`attn.out_proj` → `proj_attn`; `attn.qkv` has no GM equivalent and throws). */
export function coreKeyToGm(key: string, kind: ModelKind): string {
  if (TRANSFORMER.test(key)) return key;
  const m = CORE_QKV.exec(key);
  if (m) {
    if (m[2] === "qkv") {
      throw new Error(`'${key}': combined qkv (use_combined_linear=True) has no GM equivalent`);
    }
    const prefix = key.slice(0, m.index + m[1].length);
    return `${prefix}${m[2] === "out_proj" ? "proj_attn" : m[2]}.${m[3]}`;
  }
  const up = upsamplerPatterns(kind);
  if (up && up.core.test(key)) return key.replace(up.core, "$1conv.conv.");
  return key;
}

function identityLike(t: HostTensor): HostTensor {
  const data = new Float32Array(t.data.length);
  if (t.shape.length === 2) {
    for (let i = 0; i < Math.min(t.shape[0], t.shape[1]); i++) data[i * t.shape[1] + i] = 1;
  }
  return { dtype: "float32", shape: t.shape.slice(), data };
}

/**
 * Returns the state dict with MONAI core key names. GM naming is detected from the keys; a core (or neutral) state
 * dict is returned unchanged (same Map). Tensors are shared, not copied (except synthesised identity projections).
 */
export function toCoreNames(sd: StateDict, kind: ModelKind, options: ToCoreOptions = {}): StateDict {
  if (detectKeyNaming(sd.keys(), kind) !== "gm") return sd;
  const projection = options.projection ?? "rename";
  const out: StateDict = new Map();
  for (const [k, t] of sd) {
    const nk = gmKeyToCore(k, kind, projection);
    if (nk === null) continue;
    if (out.has(nk)) {
      throw new SerializationError("<state dict>", `GM→core renaming maps two keys onto '${nk}'`);
    }
    const isProj = /(^|\.)proj_attn\.(weight|bias)$/.test(k);
    out.set(nk, isProj && projection === "identity" ? identityLike(t) : t);
  }
  return out;
}

/** Returns the state dict with GM key names (inverse of toCoreNames with projection `rename`); GM input is returned as is. */
export function toGMNames(sd: StateDict, kind: ModelKind): StateDict {
  if (detectKeyNaming(sd.keys(), kind) !== "core") return sd;
  const out: StateDict = new Map();
  for (const [k, t] of sd) {
    const nk = coreKeyToGm(k, kind);
    if (out.has(nk)) {
      throw new SerializationError("<state dict>", `core→GM renaming maps two keys onto '${nk}'`);
    }
    out.set(nk, t);
  }
  return out;
}
