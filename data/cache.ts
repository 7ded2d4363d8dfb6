/**
 * On-disk cache of preprocessed volumes (the deterministic prefix of a transform chain, like MONAI's
 * CacheDataset). One file per (source file, chain); an entry is stale when the source's size or mtime changed.
 */
import { md5 } from "@noble/hashes/legacy.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { join, resolve } from "pathe";
import { removeStaleLeftovers } from "./pid_files.ts";
import { describeChain, type Transform } from "./transforms/transform.ts";
import type { Volume } from "./volume.ts";

const MAGIC = "LDMVOL1\n";

/** Identity of a source file as the cache sees it. */
export interface SourceStamp {
  /** Absolute path of the source file. */
  file: string;
  /** Size in bytes. */
  size: number;
  /** Modification time (ms since the epoch). */
  mtimeMs: number;
}

/** Reads the size and mtime of a source file. */
export async function stampOf(file: string): Promise<SourceStamp> {
  const st = await Deno.stat(file);
  return { file: resolve(file), size: st.size, mtimeMs: st.mtime?.getTime() ?? 0 };
}

/** A folder of cached volumes keyed by (absolute source path, transform chain). */
export class VolumeCache {
  /** Number of lookups answered from disk / recomputed since creation. */
  hits = 0;
  /** Number of lookups that had to recompute. */
  misses = 0;

  private swept: Promise<string[]> | null = null;

  /** Uses (and creates on first write) the folder `dir`. */
  constructor(readonly dir: string) {}

  /**
   * Removes temporary entry files of interrupted writes (`<key>.vol.<pid>-<uuid>.tmp`) whose process is gone,
   * and unowned ones of older versions (`<key>.vol.<uuid>.tmp`) older than a day. Returns the files removed.
   */
  removeStaleTemps(): Promise<string[]> {
    return removeStaleLeftovers(this.dir, (name) => {
      const m = name.match(/\.vol\.(?:(\d+)-)?[0-9a-f-]{36}\.tmp$/);
      return m ? (m[1] ? Number(m[1]) : null) : undefined;
    });
  }

  /** Cache file path for a source file and a transform chain. */
  entryPath(file: string, steps: Transform[]): string {
    // md5 in plain TypeScript (the same keys as node:crypto's): this module also loads in a browser.
    const key = bytesToHex(
      md5(new TextEncoder().encode(JSON.stringify([resolve(file), describeChain(steps)]))),
    );
    return join(this.dir, `${key}.vol`);
  }

  /** The cached volume, or null when absent, stale (source changed) or unreadable. */
  async get(file: string, steps: Transform[]): Promise<Volume | null> {
    const path = this.entryPath(file, steps);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch {
      return null;
    }
    const stamp = await stampOf(file);
    return decodeEntry(bytes, stamp, describeChain(steps));
  }

  /**
   * Stores a volume for (file, chain), atomically (temporary file + rename). The first store of this cache object
   * removes temporary files that interrupted runs left behind.
   */
  async put(file: string, steps: Transform[], volume: Volume): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    this.swept ??= this.removeStaleTemps();
    await this.swept;
    const path = this.entryPath(file, steps);
    const tmp = `${path}.${Deno.pid}-${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, encodeEntry(volume, await stampOf(file), describeChain(steps)));
    await Deno.rename(tmp, path);
  }

  /** Returns the cached volume or computes, stores and returns it. */
  async getOrCompute(
    file: string,
    steps: Transform[],
    compute: () => Promise<Volume> | Volume,
  ): Promise<Volume> {
    const cached = await this.get(file, steps);
    if (cached) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const v = await compute();
    await this.put(file, steps, v);
    return v;
  }
}

function encodeEntry(v: Volume, stamp: SourceStamp, chain: string): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({
      shape: v.shape,
      affine: v.affine,
      spacing: v.spacing,
      dtype: "float32",
      source: stamp,
      chain,
    }),
  );
  const headerLen = Math.ceil((MAGIC.length + 4 + header.length) / 4) * 4 - MAGIC.length - 4;
  const dataOffset = MAGIC.length + 4 + headerLen;
  const out = new Uint8Array(dataOffset + v.data.byteLength);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, headerLen, true);
  out.fill(0x20, MAGIC.length + 4, dataOffset);
  out.set(header, MAGIC.length + 4);
  out.set(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength), dataOffset);
  return out;
}

function decodeEntry(bytes: Uint8Array, stamp: SourceStamp, chain: string): Volume | null {
  try {
    if (new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) return null;
    const headerLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length, true);
    const dataOffset = MAGIC.length + 4 + headerLen;
    if (dataOffset > bytes.length) return null;
    const h = JSON.parse(new TextDecoder().decode(bytes.subarray(MAGIC.length + 4, dataOffset)));
    if (h.chain !== chain) return null;
    if (
      h.source?.file !== stamp.file || h.source?.size !== stamp.size || h.source?.mtimeMs !== stamp.mtimeMs
    ) return null;
    const n = h.shape.reduce((a: number, b: number) => a * b, 1);
    if (bytes.length - dataOffset !== n * 4) return null;
    let data: Float32Array;
    if ((bytes.byteOffset + dataOffset) % 4 === 0) {
      data = new Float32Array(bytes.buffer, bytes.byteOffset + dataOffset, n);
    } else {
      data = new Float32Array(n);
      new Uint8Array(data.buffer).set(bytes.subarray(dataOffset));
    }
    return { data, shape: h.shape, affine: h.affine, spacing: h.spacing };
  } catch {
    return null;
  }
}
