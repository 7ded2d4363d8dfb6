/**
 * Web Worker body: preprocesses one file per message with a deterministic chain and stores it in the disk
 * cache. Message in: `{ id, file, steps: TransformSpec[], cacheDir }`; out: `{ id, ok, error? }`.
 */
import { VolumeCache } from "./cache.ts";
import { loadAndPreprocess } from "./preprocess.ts";
import { transformFromSpec, type TransformSpec } from "./transforms/registry.ts";

/** A request to the worker. */
export interface PreprocessRequest {
  /** Request id, echoed in the reply. */
  id: number;
  /** Source NIfTI file. */
  file: string;
  /** The deterministic chain. */
  steps: TransformSpec[];
  /** Disk cache folder to store the result in. */
  cacheDir: string;
}

// The worker global (the main-thread lib types `self` as a Window).
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<PreprocessRequest>) => void) | null;
  postMessage(message: unknown): void;
};
// One cache object per worker, so its sweep of stale temporary files runs once, not per file.
let cache: VolumeCache | null = null;
scope.onmessage = async (ev: MessageEvent<PreprocessRequest>) => {
  const { id, file, steps, cacheDir } = ev.data;
  try {
    const chain = steps.map(transformFromSpec);
    if (cache?.dir !== cacheDir) cache = new VolumeCache(cacheDir);
    await cache.getOrCompute(file, chain, () => loadAndPreprocess(file, chain));
    scope.postMessage({ id, ok: true });
  } catch (e) {
    scope.postMessage({ id, ok: false, error: (e as Error).message });
  }
};
