/**
 * Checks a case's meta.json against the same case of the vendored set. Every fixture set uses the same keys
 * (tests/fixtures/README.md); only values differ, and the names of entries in name-keyed maps (tensors, modules,
 * sequences, …). So: an object with fixed keys must have every key the reference has, and each entry of a
 * name-keyed map must have the keys that all the reference's entries (of the same `type`, when entries have one)
 * share. Arrays and values are not compared: their lengths and contents are what differs between sets.
 */

/** Name-keyed maps, as dotted paths; `*` stands for any entry name. */
const NAME_KEYED = new Set([
  "tensors",
  "scalars",
  "files",
  "param_keys",
  "weights_from",
  "affines",
  "nifti",
  "subcases",
  "volumes",
  "config.modules",
  "config.modules.*.param_grads",
  "config.module_types",
  "config.sequences",
  "config.schedules",
  "config.timesteps_tensors",
]);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Keys of `config` that are names rather than schema: op cases repeat each module's name as a prose key, and
 * scheduler cases keep each sequence's step rows under its `steps_key`.
 */
function namedConfigKeys(config: Obj): Set<string> {
  const names = new Set<string>();
  if (isObject(config.modules)) { for (const k of Object.keys(config.modules)) names.add(k); }
  if (isObject(config.sequences)) {
    for (const seq of Object.values(config.sequences)) {
      if (isObject(seq) && typeof seq.steps_key === "string") names.add(seq.steps_key);
    }
  }
  return names;
}

/** Keys shared by every reference entry like `entry` (same `type` when entries have one), with an example. */
function sharedEntryKeys(refMap: Obj, entry: Obj): { keys: string[]; example: Obj } | null {
  const all = Object.values(refMap).filter(isObject);
  const sameType = all.filter((e) => e.type !== undefined && e.type === entry.type);
  const pool = sameType.length > 0 ? sameType : all;
  if (pool.length === 0) return null;
  const keys = Object.keys(pool[0]).filter((k) => pool.every((e) => k in e));
  return { keys, example: pool[0] };
}

/** Dotted paths of keys `meta` lacks compared with `ref` (the same case of the vendored set). */
export function missingKeys(meta: unknown, ref: unknown): string[] {
  const missing: string[] = [];
  const visit = (cand: unknown, refValue: unknown, path: string, pattern: string) => {
    if (!isObject(refValue)) return;
    if (!isObject(cand)) {
      missing.push(`${path} (should be an object)`);
      return;
    }
    const at = (k: string) => (path ? `${path}.${k}` : k);
    const patternAt = (k: string) => (pattern ? `${pattern}.${k}` : k);
    if (NAME_KEYED.has(pattern)) {
      for (const [name, entry] of Object.entries(cand)) {
        if (!isObject(entry)) continue;
        const shared = sharedEntryKeys(refValue, entry);
        if (!shared) continue;
        for (const k of shared.keys) {
          if (!(k in entry)) missing.push(`${at(name)}.${k}`);
          else visit(entry[k], shared.example[k], `${at(name)}.${k}`, `${patternAt("*")}.${k}`);
        }
      }
      return;
    }
    const skip = pattern === "config" ? namedConfigKeys(refValue) : new Set<string>();
    for (const [k, v] of Object.entries(refValue)) {
      if (skip.has(k)) continue;
      if (!(k in cand)) missing.push(at(k));
      else visit(cand[k], v, at(k), patternAt(k));
    }
    if (pattern === "config" && isObject(cand.sequences)) {
      // Each sequence's step rows live under its own steps_key.
      const refRows = Object.values(isObject(refValue.sequences) ? refValue.sequences : {})
        .map((s) => isObject(s) && typeof s.steps_key === "string" ? refValue[s.steps_key] : null)
        .find(Array.isArray);
      const rowKeys = refRows && isObject(refRows[0]) ? Object.keys(refRows[0]) : [];
      for (const [name, seq] of Object.entries(cand.sequences)) {
        const key = isObject(seq) ? seq.steps_key : undefined;
        if (typeof key !== "string") continue; // reported above as a missing sequence key
        const rows = cand[key];
        if (!Array.isArray(rows)) {
          missing.push(`${at(key)} (the step rows of sequence '${name}')`);
          continue;
        }
        rows.forEach((row, i) => {
          for (const k of rowKeys) if (!isObject(row) || !(k in row)) missing.push(`${at(key)}[${i}].${k}`);
        });
      }
    }
  };
  visit(meta, ref, "", "");
  return missing;
}
