/** The NaN/Inf check every weight load goes through (foreign .pt/safetensors and our own checkpoints). */
import { SerializationError, type StateDict } from "./types.ts";

/** Throws a SerializationError naming `file`, the first key with a NaN/Inf value and the element index. */
export function assertFinite(sd: StateDict, file: string): void {
  for (const [key, t] of sd) {
    if (!(t.data instanceof Float32Array)) continue;
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v - v !== 0) {
        throw new SerializationError(
          file,
          `tensor '${key}' contains ${Number.isNaN(v) ? "NaN" : v} at element ${i}`,
        );
      }
    }
  }
}
