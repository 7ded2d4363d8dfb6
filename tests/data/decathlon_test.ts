import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import {
  decathlonDatalist,
  downloadFile,
  extractTar,
  md5File,
  prepareDecathlon,
  readDatasetJson,
  readNifti,
  splitIndices,
  writeSyntheticDataset,
} from "../../data/mod.ts";

/** Packs every file under `dir` (paths relative to `base`) into an in-memory tar. */
async function makeTar(
  base: string,
  entries: string[],
  extra: { name: string; body: string }[] = [],
): Promise<Uint8Array<ArrayBuffer>> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const done = new Promise<void>((res, rej) => {
    pack.on("data", (c: unknown) => chunks.push(new Uint8Array(c as Uint8Array)));
    pack.on("end", () => res());
    pack.on("error", rej);
  });
  for (const rel of entries) pack.entry({ name: rel }, Deno.readFileSync(join(base, rel)));
  for (const e of extra) pack.entry({ name: e.name }, e.body);
  pack.finalize();
  await done;
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) out.set(c, o), (o += c.length);
  return out;
}

interface TestServer {
  url: string;
  requests: { range: string | null }[];
  /** Number of upcoming full/partial responses to cut after `cutAt` bytes. */
  cutsLeft: number;
  cutAt: number;
  /** Answer range requests with the whole file (HTTP 200), like servers without range support. */
  ignoreRange: boolean;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 serving `body` with Range support, able to cut transfers short. */
function serve(body: Uint8Array<ArrayBuffer>): TestServer {
  const state: TestServer = {
    url: "",
    requests: [],
    cutsLeft: 0,
    cutAt: 0,
    ignoreRange: false,
    close: async () => {},
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const range = state.ignoreRange ? null : req.headers.get("range");
    state.requests.push({ range: req.headers.get("range") });
    let start = 0;
    const m = range?.match(/^bytes=(\d+)-$/);
    if (m) start = Number(m[1]);
    if (start >= body.length && range) {
      return new Response(null, { status: 416, headers: { "content-range": `bytes */${body.length}` } });
    }
    const slice = body.subarray(start);
    const headers: Record<string, string> = {
      "content-length": String(slice.length),
      "accept-ranges": "bytes",
    };
    if (range) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
    const status = range ? 206 : 200;
    if (state.cutsLeft > 0) {
      state.cutsLeft--;
      const upto = Math.max(1, state.cutAt - start);
      const stream = new ReadableStream<Uint8Array>({
        start(ctrl) {
          ctrl.enqueue(slice.slice(0, upto) as Uint8Array);
          setTimeout(() => ctrl.close(), 20); // ends early: fewer bytes than content-length
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(slice.slice(), { status, headers });
  });
  const addr = server.addr as Deno.NetAddr;
  state.url = `http://127.0.0.1:${addr.port}/Task01_BrainTumour.tar`;
  state.close = async () => {
    await server.shutdown();
  };
  return state;
}

async function syntheticTar(): Promise<{ tarBytes: Uint8Array<ArrayBuffer>; md5: string; work: string }> {
  const work = await Deno.makeTempDir();
  await writeSyntheticDataset(join(work, "src"), {
    numTraining: 5,
    numTest: 1,
    shape: [12, 12, 10],
    seed: 3,
  });
  const rels = ["dataset.json"];
  for (const d of ["imagesTr", "labelsTr", "imagesTs"]) {
    for (const e of Deno.readDirSync(join(work, "src", "Task01_BrainTumour", d))) rels.push(`${d}/${e.name}`);
  }
  const tarBytes = await makeTar(join(work, "src"), rels.map((r) => `Task01_BrainTumour/${r}`).sort());
  const md5 = createHash("md5").update(tarBytes).digest("hex");
  return { tarBytes, md5, work };
}

Deno.test("decathlon: download with progress, md5, extraction, dataset.json, split (local server)", async () => {
  const { tarBytes, md5, work } = await syntheticTar();
  const srv = serve(tarBytes);
  try {
    const root = join(work, "dl");
    const progress: number[] = [];
    const task = await prepareDecathlon(root, {
      download: true,
      url: srv.url,
      md5,
      onProgress: (p) => progress.push(p.received),
    });
    assert.equal(progress.at(-1), tarBytes.length);
    assert.equal(await md5File(join(root, "Task01_BrainTumour.tar")), md5);
    const manifest = await readDatasetJson(task);
    assert.equal(manifest.training.length, 5);
    assert.equal(manifest.modality["0"], "FLAIR");
    const img = await readNifti(manifest.training[0].image);
    assert.equal(img.volume.shape[0], 4);
    const val = await decathlonDatalist(task, "validation");
    const tr = await decathlonDatalist(task, "training");
    const s = splitIndices(5);
    assert.deepEqual(val.map((v) => v.image), s.validation.map((i) => manifest.training[i].image));
    assert.deepEqual(tr.map((v) => v.image), s.training.map((i) => manifest.training[i].image));
    // A second call finds the dataset and does not download.
    const before = srv.requests.length;
    await prepareDecathlon(root, { download: true, url: srv.url, md5 });
    assert.equal(srv.requests.length, before);
  } finally {
    await srv.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("decathlon: an interrupted transfer resumes with a Range request (within a call and across calls)", async () => {
  const { tarBytes, md5, work } = await syntheticTar();
  const srv = serve(tarBytes);
  try {
    // Within one call: the first response is cut, the retry asks for the rest.
    srv.cutsLeft = 1;
    srv.cutAt = Math.floor(tarBytes.length / 3);
    const dest = join(work, "a.tar");
    const seen: boolean[] = [];
    await downloadFile(srv.url, dest, { md5, retryDelayMs: 10, onProgress: (p) => seen.push(p.resumed) });
    assert.equal(await md5File(dest), md5);
    assert.equal(srv.requests[0].range, null);
    assert.match(srv.requests[1].range ?? "", /^bytes=\d+-$/);
    assert.ok(Number(srv.requests[1].range!.slice(6, -1)) > 0);
    assert.ok(seen.at(-1));
    // Across calls: no retries allowed, the call fails, keeps the part file, the next call resumes.
    srv.requests.length = 0;
    srv.cutsLeft = 1;
    srv.cutAt = Math.floor(tarBytes.length / 2);
    const dest2 = join(work, "b.tar");
    await assert.rejects(
      () => downloadFile(srv.url, dest2, { md5, maxRetries: 0 }),
      /interrupted.*call again to resume/,
    );
    const kept = (await Deno.stat(dest2 + ".part")).size;
    assert.ok(kept > 0 && kept < tarBytes.length);
    await downloadFile(srv.url, dest2, { md5, maxRetries: 0 });
    assert.equal(srv.requests[1].range, `bytes=${kept}-`);
    assert.equal(await md5File(dest2), md5);
    // A server without range support answers 200: the download starts over and still verifies.
    srv.requests.length = 0;
    srv.cutsLeft = 1;
    srv.ignoreRange = true;
    const dest3 = join(work, "c.tar");
    await downloadFile(srv.url, dest3, { md5, retryDelayMs: 10 });
    assert.match(srv.requests[1].range ?? "", /^bytes=/);
    assert.equal(await md5File(dest3), md5);
  } finally {
    await srv.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("decathlon: a corrupted transfer fails the checksum with a clear error and leaves nothing behind", async () => {
  const { tarBytes, md5, work } = await syntheticTar();
  const corrupted = tarBytes.slice();
  corrupted[1000] ^= 0xff;
  const srv = serve(corrupted);
  try {
    const dest = join(work, "c.tar");
    await assert.rejects(
      () => downloadFile(srv.url, dest, { md5 }),
      /checksum failed for '.*c\.tar'.*expected/,
    );
    await assert.rejects(() => Deno.stat(dest));
    await assert.rejects(() => Deno.stat(dest + ".part"));
    await assert.rejects(() => prepareDecathlon(join(work, "none")), /dataset\.json' not found/);
  } finally {
    await srv.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("decathlon: unsafe tar paths are refused; dataset.json naming missing files is an error", async () => {
  const work = await Deno.makeTempDir();
  try {
    const evil = await makeTar(work, [], [{ name: "../escape.txt", body: "x" }]);
    await Deno.writeFile(join(work, "evil.tar"), evil);
    await assert.rejects(
      () => extractTar(join(work, "evil.tar"), join(work, "out")),
      /unsafe path '\.\.\/escape\.txt'/,
    );
    const task = await writeSyntheticDataset(work, { numTraining: 2, shape: [8, 8, 6], seed: 1 });
    await Deno.remove(join(task, "imagesTr", "BRATS_002.nii.gz"));
    await assert.rejects(
      () => readDatasetJson(task),
      /dataset\.json.*1 listed file\(s\) missing.*BRATS_002\.nii\.gz/,
    );
    await Deno.writeTextFile(join(task, "dataset.json"), "{not json");
    await assert.rejects(() => readDatasetJson(task), /dataset\.json.*cannot read or parse/);
    await Deno.writeTextFile(join(task, "dataset.json"), JSON.stringify({ training: [{ label: "x" }] }));
    await assert.rejects(() => readDatasetJson(task), /training\[0\] has no 'image'/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

/** Entries of `dir` (names), [] when it does not exist. */
async function names(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

Deno.test("decathlon: a truncated or corrupt archive leaves nothing that looks ready (atomic extraction)", async () => {
  const { tarBytes, work } = await syntheticTar();
  // A tar cut inside a file, one cut at an entry boundary (some listed images absent), and corrupt gzip.
  const headerAt = (name: string) => {
    const text = new TextDecoder("latin1").decode(tarBytes);
    return text.indexOf(`Task01_BrainTumour/${name}`);
  };
  const boundary = headerAt("imagesTr/BRATS_003.nii.gz");
  assert.ok(boundary > 0 && boundary % 512 === 0);
  const gz = new Uint8Array(gzipSync(tarBytes));
  gz.fill(0x55, 200, 260);
  const broken: Record<string, Uint8Array<ArrayBuffer>> = {
    "mid-file": tarBytes.slice(0, Math.floor(tarBytes.length * 0.6)),
    "entry-boundary": tarBytes.slice(0, boundary),
    "corrupt-gzip": gz,
  };
  try {
    for (const [kind, bytes] of Object.entries(broken)) {
      const srv = serve(bytes);
      const root = join(work, kind);
      try {
        await assert.rejects(
          () => prepareDecathlon(root, { download: true, url: srv.url, md5: null }),
          kind === "entry-boundary"
            ? /archive '.*Task01_BrainTumour\.tar' is incomplete: dataset\.json .*listed file\(s\) missing/
            : /extract: '.*Task01_BrainTumour\.tar' could not be extracted/,
          kind,
        );
        // Only the downloaded archive (and the lock file) remain: no task folder, no temporary folder.
        assert.deepEqual(await names(root), [".Task01_BrainTumour.lock", "Task01_BrainTumour.tar"], kind);
        await assert.rejects(() => prepareDecathlon(root), /dataset\.json' not found/, kind);
      } finally {
        await srv.close();
      }
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("decathlon: stale temporary extraction folders are removed when a run starts; live ones are kept", async () => {
  const { tarBytes, md5, work } = await syntheticTar();
  const srv = serve(tarBytes);
  try {
    const root = join(work, "dl");
    // A finished process (our own child) left one; pid 1 is alive, so its folder is kept.
    const done = await new Deno.Command(Deno.execPath(), { args: ["eval", "0"] }).spawn();
    await done.status;
    const stale = join(root, `.Task01_BrainTumour.extract-${done.pid}-deadbeef`);
    const live = join(root, ".Task01_BrainTumour.extract-1-cafecafe");
    for (const d of [stale, live]) {
      await Deno.mkdir(join(d, "Task01_BrainTumour"), { recursive: true });
      await Deno.writeTextFile(join(d, "Task01_BrainTumour", "dataset.json"), "{}");
    }
    const task = await prepareDecathlon(root, { download: true, url: srv.url, md5 });
    assert.equal((await readDatasetJson(task)).training.length, 5);
    assert.deepEqual(await names(root), [
      ".Task01_BrainTumour.extract-1-cafecafe",
      ".Task01_BrainTumour.lock",
      "Task01_BrainTumour",
      "Task01_BrainTumour.tar",
    ]);
  } finally {
    await srv.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("decathlon: a folder left half-extracted by an older version is reported, not used or deleted", async () => {
  const work = await Deno.makeTempDir();
  try {
    const task = await writeSyntheticDataset(work, { numTraining: 3, shape: [8, 8, 6], seed: 2 });
    await Deno.remove(join(task, "imagesTr", "BRATS_003.nii.gz"));
    await assert.rejects(
      () => prepareDecathlon(work, { download: true, url: "http://127.0.0.1:9/never" }),
      /dataset: '.*Task01_BrainTumour' is incomplete .*1 listed file\(s\) missing.*BRATS_003\.nii\.gz.*remove that folder/,
    );
    assert.ok((await Deno.stat(join(task, "dataset.json"))).isFile, "nothing deleted");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("decathlon: the offline error names only files that exist", async () => {
  const { tarBytes, md5, work } = await syntheticTar();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadUrl = `http://127.0.0.1:${(closed.addr as Deno.NetAddr).port}/Task01_BrainTumour.tar`;
  closed.close();
  try {
    const dest = join(work, "offline", "Task01_BrainTumour.tar");
    const err = await downloadFile(deadUrl, dest, { md5, maxRetries: 0 }).then(() => null, (e: Error) => e);
    assert.ok(err, "the download must fail offline");
    assert.match(err.message, /download: cannot fetch '.*' \(.*\); nothing was written$/);
    assert.doesNotMatch(err.message, /\.part/);
    await assert.rejects(() => Deno.stat(dest + ".part"));
    // With a partial file from an earlier run, the message names it (it exists) and the next call resumes.
    await Deno.writeFile(dest + ".part", tarBytes.slice(0, 1000));
    await assert.rejects(
      () => downloadFile(deadUrl, dest, { md5, maxRetries: 0 }),
      /1000 bytes kept in '.*Task01_BrainTumour\.tar\.part', the next call resumes from there/,
    );
    const srv = serve(tarBytes);
    try {
      await downloadFile(srv.url, dest, { md5, maxRetries: 0 });
      assert.equal(srv.requests[0].range, "bytes=1000-");
      assert.equal(await md5File(dest), md5);
    } finally {
      await srv.close();
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("decathlon: concurrent calls (ranks) download and extract once; a crashed holder leaves no lock", async () => {
  const { tarBytes, md5, work } = await syntheticTar();
  const srv = serve(tarBytes);
  try {
    const root = join(work, "dl");
    await Deno.mkdir(root);
    // A process that took the lock and died without releasing it.
    const lock = join(root, ".Task01_BrainTumour.lock");
    const crashed = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const f = Deno.openSync(${
          JSON.stringify(lock)
        }, { write: true, create: true }); f.lockSync(true); Deno.exit(3);`,
      ],
    }).output();
    assert.equal(crashed.code, 3);
    const opts = { download: true, url: srv.url, md5 };
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => prepareDecathlon(root, opts)));
    assert.ok(a === b && b === c);
    assert.deepEqual(srv.requests, [{ range: null }], "one download");
    assert.equal((await readDatasetJson(a)).training.length, 5);
    assert.deepEqual(await names(root), [
      ".Task01_BrainTumour.lock",
      "Task01_BrainTumour",
      "Task01_BrainTumour.tar",
    ]);
  } finally {
    await srv.close();
    await Deno.remove(work, { recursive: true });
  }
});
