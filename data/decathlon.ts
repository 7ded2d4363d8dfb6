/**
 * Medical Segmentation Decathlon Task01_BrainTumour: resumable download (HTTP Range) with md5 check, tar
 * extraction (npm:tar-stream), dataset.json parsing and the reference train/validation split.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import { dirname, isAbsolute, join, normalize, resolve, sep } from "node:path";
import tar from "tar-stream";
import { splitSection } from "./split.ts";

/** Where the reference downloads Task01 from and its md5 (SPEC §1.1). */
export const TASK01 = {
  url: "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task01_BrainTumour.tar",
  md5: "240a19d752f0d9e9101544901065d872",
  folder: "Task01_BrainTumour",
} as const;

/** Progress report of a download: bytes on disk so far and the total when the server says it. */
export interface DownloadProgress {
  /** Bytes of the file on disk so far. */
  received: number;
  /** Total size when the server reported it, else null. */
  total: number | null;
  /** True when this call resumed a partial file. */
  resumed: boolean;
}

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /** Expected md5 (hex); verified before the file is moved into place. */
  md5?: string;
  /** Called after every received chunk. */
  onProgress?: (p: DownloadProgress) => void;
  /** Retries after an interrupted transfer within one call (each resumes with a Range request); default 3. */
  maxRetries?: number;
  /** Pause before a retry in ms (default 500). */
  retryDelayMs?: number;
}

/** md5 (hex) of a file, streamed. */
export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return null;
  }
}

/**
 * Downloads `url` to `dest`, resumable: bytes go to `dest + ".part"`; an interrupted transfer (this call's retries
 * or a later call) continues with `Range: bytes=N-`. With `md5` the finished file is verified first; a mismatch
 * deletes the partial file and throws. An existing `dest` that passes the check is kept.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<void> {
  const { md5, onProgress } = options;
  const maxRetries = options.maxRetries ?? 3;
  if ((await fileSize(dest)) !== null) {
    if (!md5) return;
    const got = await md5File(dest);
    if (got === md5.toLowerCase()) return;
    throw new Error(
      `download: existing file '${dest}' fails its checksum (md5 ${got}, expected ${md5}); delete it to re-download`,
    );
  }
  await Deno.mkdir(dirname(resolve(dest)), { recursive: true });
  const part = dest + ".part";
  let attempt = 0;
  let resumedOnce = false;
  for (;;) {
    const offset = (await fileSize(part)) ?? 0;
    const resumed = offset > 0;
    resumedOnce ||= resumed;
    let res: Response;
    try {
      res = await fetch(url, { headers: resumed ? { Range: `bytes=${offset}-` } : {} });
    } catch (e) {
      if (++attempt > maxRetries) {
        throw new Error(
          `download: cannot fetch '${url}' (${(e as Error).message}); ${offset} bytes kept in '${part}'`,
        );
      }
      await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 500));
      continue;
    }
    if (res.status === 416 && resumed) {
      await res.body?.cancel();
      break; // the partial file is already complete
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw new Error(`download: '${url}' answered HTTP ${res.status} ${res.statusText}`);
    }
    let received = offset;
    const append = res.status === 206;
    if (!append) received = 0; // server ignored the range: start over
    let total: number | null = null;
    const range = res.headers.get("content-range");
    const m = range?.match(/\/(\d+)\s*$/);
    if (m) total = Number(m[1]);
    else if (res.headers.get("content-length")) total = received + Number(res.headers.get("content-length"));
    const file = await Deno.open(part, { write: true, create: true, append, truncate: !append });
    let interrupted: Error | null = null;
    try {
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let w = 0;
        while (w < value.length) w += await file.write(value.subarray(w));
        received += value.length;
        onProgress?.({ received, total, resumed: resumedOnce });
      }
    } catch (e) {
      interrupted = e as Error;
    } finally {
      file.close();
    }
    if (!interrupted && total !== null && received < total) {
      interrupted = new Error(`connection closed after ${received} of ${total} bytes`);
    }
    if (interrupted) {
      if (++attempt > maxRetries) {
        throw new Error(
          `download: transfer of '${url}' interrupted (${interrupted.message}); ${received} bytes kept in '${part}', call again to resume`,
        );
      }
      await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 500));
      continue;
    }
    break;
  }
  if (md5) {
    const got = await md5File(part);
    if (got !== md5.toLowerCase()) {
      await Deno.remove(part);
      throw new Error(
        `download: checksum failed for '${dest}' from '${url}': md5 ${got}, expected ${md5} (partial file deleted)`,
      );
    }
  }
  await Deno.rename(part, dest);
}

/** Extracts a tar (or tar.gz) archive into `destDir`; rejects absolute paths and `..`; regular files and folders only. Returns the files written. */
export async function extractTar(tarPath: string, destDir: string): Promise<string[]> {
  const root = resolve(destDir);
  await Deno.mkdir(root, { recursive: true });
  const head = new Uint8Array(2);
  {
    using f = await Deno.open(tarPath, { read: true });
    await f.read(head);
  }
  const extract = tar.extract();
  const input = createReadStream(tarPath);
  const written: string[] = [];
  const fail = (e: Error) => extract.destroy(e);
  input.on("error", fail);
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    gunzip.on("error", fail);
    input.pipe(gunzip).pipe(extract);
  } else {
    input.pipe(extract);
  }
  try {
    for await (const entry of extract) {
      const name: string = entry.header.name;
      const target = resolve(root, normalize(name));
      if (
        isAbsolute(name) || name.split(/[\\/]/).includes("..") ||
        (target !== root && !target.startsWith(root + sep))
      ) {
        entry.resume();
        throw new Error(`unsafe path '${name}'`);
      }
      if (entry.header.type === "directory") {
        await Deno.mkdir(target, { recursive: true });
        entry.resume();
      } else if (entry.header.type === "file" || entry.header.type === "contiguous-file") {
        await Deno.mkdir(dirname(target), { recursive: true });
        const file = await Deno.open(target, { write: true, create: true, truncate: true });
        try {
          for await (const chunk of entry) {
            const bytes = chunk as Uint8Array;
            let w = 0;
            while (w < bytes.length) w += await file.write(bytes.subarray(w));
          }
        } finally {
          file.close();
        }
        written.push(target);
      } else {
        entry.resume(); // links, devices, pax headers: skipped
      }
    }
  } catch (e) {
    input.destroy();
    throw new Error(`extract: '${tarPath}' could not be extracted: ${(e as Error).message}`);
  }
  return written;
}

/** One item of a Decathlon datalist (absolute paths). */
export interface DatalistItem {
  /** Image file (absolute path). */
  image: string;
  /** Label map file (absolute path), when listed. */
  label?: string;
}

/** The parsed dataset.json of a Decathlon task. */
export interface DecathlonManifest {
  /** Dataset name ("BRATS"). */
  name: string;
  /** Channel index → modality name. */
  modality: Record<string, string>;
  /** Label value → class name. */
  labels: Record<string, string>;
  /** Number of training cases the file announces. */
  numTraining: number;
  /** Number of test cases the file announces. */
  numTest: number;
  /** `training` entries in file order, paths resolved against the task folder. */
  training: DatalistItem[];
  /** `test` entries (image paths only). */
  test: DatalistItem[];
}

/** Reads and validates `taskDir/dataset.json`; with `checkFiles` (default true) every listed file must exist. */
export async function readDatasetJson(taskDir: string, checkFiles = true): Promise<DecathlonManifest> {
  const path = join(taskDir, "dataset.json");
  let raw: {
    training?: unknown;
    test?: unknown;
    name?: unknown;
    modality?: Record<string, string>;
    labels?: Record<string, string>;
    numTraining?: unknown;
    numTest?: unknown;
  } | null;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`dataset.json '${path}': cannot read or parse (${(e as Error).message})`);
  }
  const bad = (what: string) => new Error(`dataset.json '${path}': ${what}`);
  if (!raw || typeof raw !== "object") throw bad("not a JSON object");
  if (!Array.isArray(raw.training)) throw bad("missing 'training' list");
  const training: DatalistItem[] = raw.training.map((entry: unknown, i: number) => {
    const t = entry as { image?: unknown; label?: unknown } | null;
    if (!t || typeof t.image !== "string") throw bad(`training[${i}] has no 'image' string`);
    return {
      image: join(taskDir, t.image),
      ...(typeof t.label === "string" ? { label: join(taskDir, t.label) } : {}),
    };
  });
  const test: DatalistItem[] = (Array.isArray(raw.test) ? raw.test : []).map((t: unknown, i: number) => {
    const image = typeof t === "string" ? t : (t as { image?: unknown } | null)?.image;
    if (typeof image !== "string") throw bad(`test[${i}] is not a path`);
    return { image: join(taskDir, image) };
  });
  if (checkFiles) {
    const missing: string[] = [];
    for (const item of training) {
      for (const p of [item.image, item.label]) if (p && (await fileSize(p)) === null) missing.push(p);
    }
    if (missing.length) {
      throw bad(
        `${missing.length} listed file(s) missing, e.g. ${
          missing.slice(0, 3).map((m) => `'${m}'`).join(", ")
        }`,
      );
    }
  }
  return {
    name: String(raw.name ?? ""),
    modality: raw.modality ?? {},
    labels: raw.labels ?? {},
    numTraining: Number(raw.numTraining ?? training.length),
    numTest: Number(raw.numTest ?? test.length),
    training,
    test,
  };
}

/** Options of {@link prepareDecathlon}. */
export interface PrepareOptions {
  /** Download (and extract) when the task folder is absent (default false). */
  download?: boolean;
  /** Override the archive URL / md5 (tests use a local server). */
  url?: string;
  /** Expected md5 of the archive; null skips the check. */
  md5?: string | null;
  /** Task folder name inside the archive (default Task01_BrainTumour). */
  folder?: string;
  /** Download progress callback. */
  onProgress?: (p: DownloadProgress) => void;
  /** Retries after an interrupted transfer. */
  maxRetries?: number;
  /** Pause before a retry in ms. */
  retryDelayMs?: number;
}

/** Makes sure `root/Task01_BrainTumour/dataset.json` exists (downloading, verifying and extracting on request); returns the task folder. */
export async function prepareDecathlon(root: string, options: PrepareOptions = {}): Promise<string> {
  const folder = options.folder ?? TASK01.folder;
  const taskDir = join(root, folder);
  if ((await fileSize(join(taskDir, "dataset.json"))) !== null) return taskDir;
  if (!options.download) {
    throw new Error(
      `dataset: '${join(taskDir, "dataset.json")}' not found; download it (download: true / --download_data)`,
    );
  }
  const url = options.url ?? TASK01.url;
  const tarPath = join(root, `${folder}.tar`);
  const md5 = options.md5 === undefined ? TASK01.md5 : options.md5 ?? undefined;
  await downloadFile(url, tarPath, {
    md5,
    onProgress: options.onProgress,
    maxRetries: options.maxRetries,
    retryDelayMs: options.retryDelayMs,
  });
  await extractTar(tarPath, root);
  if ((await fileSize(join(taskDir, "dataset.json"))) === null) {
    throw new Error(`dataset: archive '${tarPath}' did not contain '${folder}/dataset.json'`);
  }
  return taskDir;
}

/** The datalist of one section as DecathlonDataset gives it: training/validation by the seeded split of `training`, or `test`. */
export async function decathlonDatalist(
  taskDir: string,
  section: "training" | "validation" | "test",
  seed = 0,
  valFrac = 0.2,
): Promise<DatalistItem[]> {
  const manifest = await readDatasetJson(taskDir, section !== "test");
  if (section === "test") return manifest.test;
  return splitSection(manifest.training, section, seed, valFrac);
}
