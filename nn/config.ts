/** Reference (MONAI) keyword arguments → our camelCased constructor options. */

/** "num_res_blocks" → "numResBlocks". */
export function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Converts the top-level keys of a MONAI kwargs dict (e.g. a fixture's `config` or a reference config file's
 * `autoencoder_def`) to camelCase. Values are kept; `_target_` entries are dropped.
 */
export function camelizeKeys<T = Record<string, unknown>>(kwargs: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs)) {
    if (k === "_target_") continue;
    out[snakeToCamel(k)] = v;
  }
  return out as T;
}

/** A per-level setting given as one value or a list: expands to `levels` entries (checks the length). */
export function perLevel<T>(what: string, v: T | T[], levels: number): T[] {
  const list = Array.isArray(v) ? v : new Array(levels).fill(v);
  if (list.length !== levels) {
    throw new Error(`${what}: expected ${levels} entries (one per level of channels), got ${list.length}`);
  }
  return list;
}
