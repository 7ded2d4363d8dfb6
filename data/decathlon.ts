/**
 * Medical Segmentation Decathlon Task01_BrainTumour: resumable download (HTTP Range) with md5 check, tar
 * extraction (npm:tar-stream), dataset.json parsing and the reference train/validation split.
 */
import { dirname, isAbsolute, join, normalize, resolve, sep } from "pathe";
import { splitSection } from "./split.ts";
import { removeStaleLeftovers, withLock } from "./pid_files.ts";

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
  // node:crypto loads when used, so this module also loads in a browser.
  const { createHash } = await import("node:crypto");
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
        const kept = resumed
          ? `${offset} bytes kept in '${part}', the next call resumes from there`
          : "nothing was written";
        throw new Error(`download: cannot fetch '${url}' (${(e as Error).message}); ${kept}`);
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
  // Node's streams and tar-stream (whose streams need node:events) load when used, so this module also loads
  // in a browser.
  const [{ createReadStream }, { createGunzip }, { default: tar }] = await Promise.all([
    import("node:fs"),
    import("node:zlib"),
    import("tar-stream"),
  ]);
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
    const missing = await missingFiles(training);
    if (missing.length) throw bad(missingText(missing));
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

/** The image and label files of `items` that do not exist. */
async function missingFiles(items: DatalistItem[]): Promise<string[]> {
  const missing: string[] = [];
  for (const item of items) {
    for (const p of [item.image, item.label]) if (p && (await fileSize(p)) === null) missing.push(p);
  }
  return missing;
}

function missingText(missing: string[]): string {
  return `${missing.length} listed file(s) missing, e.g. ${
    missing.slice(0, 3).map((m) => `'${m}'`).join(", ")
  }`;
}

/**
 * Checks that a task folder is complete: dataset.json parses and every file it names (training images and
 * labels, test images) exists. Throws naming dataset.json and the missing files.
 */
export async function verifyTaskFolder(taskDir: string): Promise<DecathlonManifest> {
  const manifest = await readDatasetJson(taskDir, false);
  const missing = await missingFiles([...manifest.training, ...manifest.test]);
  if (missing.length) {
    throw new Error(`dataset.json '${join(taskDir, "dataset.json")}': ${missingText(missing)}`);
  }
  return manifest;
}

/** Prefix of the temporary folders extraction works in, beside the task folder: `.<folder>.extract-<pid>-<id>`. */
function extractPrefix(folder: string): string {
  return `.${folder}.extract-`;
}

/**
 * Removes temporary extraction folders of `folder` under `root` left by interrupted runs: those whose process is
 * gone (or, where liveness cannot be told, older than a day). Returns the folders removed.
 */
export function removeStaleExtractions(root: string, folder: string): Promise<string[]> {
  const prefix = extractPrefix(folder);
  return removeStaleLeftovers(root, (name) => {
    if (!name.startsWith(prefix)) return undefined;
    const pid = Number(name.slice(prefix.length).split("-")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  });
}

/**
 * Extracts `tarPath` and puts `root/folder` in place atomically: the archive goes into a temporary folder beside
 * it, `folder` is verified there (dataset.json and every file it names) and only then renamed into place. On
 * failure the temporary folder is removed and nothing that looks ready is left.
 */
export async function extractTaskAtomically(tarPath: string, root: string, folder: string): Promise<string> {
  const taskDir = join(root, folder);
  const tmp = join(root, `${extractPrefix(folder)}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await extractTar(tarPath, tmp);
    const staged = join(tmp, folder);
    if ((await fileSize(join(staged, "dataset.json"))) === null) {
      throw new Error(`dataset: archive '${tarPath}' did not contain '${folder}/dataset.json'`);
    }
    try {
      await verifyTaskFolder(staged);
    } catch (e) {
      throw new Error(`dataset: archive '${tarPath}' is incomplete: ${(e as Error).message}`);
    }
    try {
      await Deno.rename(staged, taskDir);
    } catch (e) {
      // Another process may have put a complete folder in place meanwhile; anything else is an error.
      if ((await fileSize(join(taskDir, "dataset.json"))) === null) {
        const why = (e as Error).message;
        throw new Error(
          `dataset: cannot move the extracted '${folder}' to '${taskDir}' (${why}); move that folder away`,
        );
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return taskDir;
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

/**
 * Makes sure `root/Task01_BrainTumour` is complete (downloading, verifying and extracting on request); returns
 * the task folder. Temporary extraction folders of interrupted runs are removed first; a partial download
 * (`.tar.part`) is resumed. Concurrent calls (the ranks of one run) download once: the others wait on the lock
 * file `.Task01_BrainTumour.lock` beside the folder.
 */
export async function prepareDecathlon(root: string, options: PrepareOptions = {}): Promise<string> {
  const folder = options.folder ?? TASK01.folder;
  const taskDir = join(root, folder);
  await removeStaleExtractions(root, folder);
  if (await existingTaskDir(taskDir)) return taskDir;
  if (!options.download) {
    throw new Error(
      `dataset: '${join(taskDir, "dataset.json")}' not found; download it (download: true / --download_data)`,
    );
  }
  await Deno.mkdir(root, { recursive: true });
  // One download per machine: other processes (ranks) wait for it and then find the folder ready.
  return await withLock(join(root, `.${folder}.lock`), async () => {
    if (await existingTaskDir(taskDir)) return taskDir;
    const url = options.url ?? TASK01.url;
    const tarPath = join(root, `${folder}.tar`);
    const md5 = options.md5 === undefined ? TASK01.md5 : options.md5 ?? undefined;
    await downloadFile(url, tarPath, {
      md5,
      onProgress: options.onProgress,
      maxRetries: options.maxRetries,
      retryDelayMs: options.retryDelayMs,
    });
    return await extractTaskAtomically(tarPath, root, folder);
  });
}

/** True when the task folder is in place with its training files; throws when it is there but incomplete. */
async function existingTaskDir(taskDir: string): Promise<boolean> {
  if ((await fileSize(join(taskDir, "dataset.json"))) === null) return false;
  try {
    await readDatasetJson(taskDir); // training images and labels present
  } catch (e) {
    throw new Error(
      `dataset: '${taskDir}' is incomplete (an interrupted extraction by an older version?): ` +
        `${(e as Error).message}; remove that folder to extract the archive again`,
    );
  }
  return true;
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
