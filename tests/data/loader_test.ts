import assert from "node:assert/strict";
import { join } from "node:path";
import {
  centerSpatialCrop,
  cropBox,
  DataLoader,
  distributedIndices,
  MT19937,
  orientation,
  randomCropStart,
  randSpatialCrop,
  readDatasetJson,
  scaleIntensityRangePercentiles,
  selectChannel,
  spacing,
  torchRandperm,
  type Transform,
  VolumeCache,
  writeSyntheticDataset,
} from "../../data/mod.ts";

Deno.test("distributedIndices: DistributedSampler padding, sharding, seed + epoch", () => {
  // No shuffle: 10 items on 4 ranks -> padded to 12 by repeating from the start.
  const shards = [0, 1, 2, 3].map((rank) => distributedIndices(10, { rank, worldSize: 4, shuffle: false }));
  assert.deepEqual(shards, [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]);
  // Shuffled: the union of shards is the padded permutation of seed + epoch.
  const perm = torchRandperm(10, 5 + 2);
  const padded = [...perm, perm[0], perm[1]];
  for (let rank = 0; rank < 4; rank++) {
    const got = distributedIndices(10, { rank, worldSize: 4, seed: 5, epoch: 2 });
    assert.deepEqual(got, padded.filter((_, i) => i % 4 === rank));
  }
  assert.notDeepEqual(distributedIndices(10, { epoch: 0 }), distributedIndices(10, { epoch: 1 }));
  // drop_last truncates; 388 on 8 ranks pads to 392 (SPEC §1.4).
  assert.deepEqual(distributedIndices(10, { rank: 3, worldSize: 4, shuffle: false, dropLast: true }), [3, 7]);
  assert.equal(distributedIndices(388, { rank: 7, worldSize: 8 }).length, 49);
  // Padding longer than the dataset repeats it several times.
  assert.deepEqual(distributedIndices(2, { rank: 4, worldSize: 5, shuffle: false }), [0]);
  assert.throws(() => distributedIndices(4, { rank: 2, worldSize: 2 }), /rank 2 must be in \[0, 1\]/);
});

Deno.test("loader: cached preprocessing, prefetched batches, random crops in fetch order, cache invalidation", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const task = await writeSyntheticDataset(dir, { numTraining: 5, shape: [24, 22, 16], seed: 9 });
    const files = (await readDatasetJson(task)).training.map((t) => t.image);
    const roi: [number, number, number] = [12, 10, 8];
    const make = (seedCrop: number) =>
      new DataLoader({
        files,
        transforms: [
          selectChannel(0),
          orientation("RAS"),
          spacing([1.1, 1.1, 1.1]),
          randSpatialCrop(roi, seedCrop),
          scaleIntensityRangePercentiles({ lower: 0, upper: 99.5, bMin: 0, bMax: 1 }),
        ],
        batchSize: 2,
        seed: 3,
        cacheDir: join(dir, "cache"),
        prefetch: 2,
      });
    const loader = make(77);
    assert.deepEqual(loader.deterministic.map((t) => t.name), ["selectChannel", "orientation", "spacing"]);
    assert.equal(loader.length, 3);
    const batches = [];
    for await (const b of loader.batches()) batches.push(b);
    assert.equal(batches.length, 3);
    assert.deepEqual(batches[0].shape, [2, 1, ...roi]);
    assert.deepEqual(batches[2].shape, [1, 1, ...roi]);
    assert.deepEqual(batches.flatMap((b) => b.indices), loader.indices());
    assert.equal(loader.cache!.misses, 5);
    // Crop starts follow one MT19937 stream in fetch order; scaling is per patch.
    const rng = new MT19937(77);
    const scale = scaleIntensityRangePercentiles({ lower: 0, upper: 99.5, bMin: 0, bMax: 1 });
    for (const b of batches) {
      for (let k = 0; k < b.indices.length; k++) {
        const spaced = await loader.preprocessed(b.indices[k]);
        const start = randomCropStart(rng, spaced.shape.slice(1), roi);
        const expected = scale.apply(cropBox(spaced, start, roi)).data;
        const per = expected.length;
        assert.deepEqual(Array.from(b.data.subarray(k * per, (k + 1) * per)), Array.from(expected));
      }
    }

    // A new loader with the same cache dir reads from disk (no recompute) and gives identical batches.
    const again = make(77);
    const batches2 = [];
    for await (const b of again.batches()) batches2.push(b);
    assert.equal(again.cache!.misses, 0);
    assert.equal(again.cache!.hits, 5);
    assert.deepEqual(batches2.map((b) => Array.from(b.data)), batches.map((b) => Array.from(b.data)));

    // Changing a transform parameter or a source file invalidates the entry.
    const cache = new VolumeCache(join(dir, "cache"));
    const steps = [selectChannel(0), orientation("RAS"), spacing([1.1, 1.1, 1.1])];
    assert.ok(await cache.get(files[0], steps));
    assert.equal(
      await cache.get(files[0], [selectChannel(0), orientation("RAS"), spacing([1.2, 1.2, 1.2])]),
      null,
    );
    const bytes = await Deno.readFile(files[0]);
    await Deno.writeFile(files[0], bytes);
    await Deno.utime(files[0], new Date(), new Date(Date.now() + 5000));
    assert.equal(await cache.get(files[0], steps), null);

    // Epochs reshuffle.
    loader.setEpoch(1);
    assert.notDeepEqual(loader.indices(), again.indices());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: deterministic chain (centre crop) is cached whole; unequal shapes and bad files give clear errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const task = await writeSyntheticDataset(dir, { numTraining: 3, shape: [14, 12, 10], seed: 2 });
    const files = (await readDatasetJson(task)).training.map((t) => t.image);
    const loader = new DataLoader({
      files,
      transforms: [selectChannel(0), orientation("RAS"), centerSpatialCrop([8, 8, 8])],
      batchSize: 3,
      shuffle: false,
    });
    assert.equal(loader.randomSteps.length, 0);
    const [b] = await Array.fromAsync(loader.batches());
    assert.deepEqual(b.shape, [3, 1, 8, 8, 8]);
    assert.deepEqual(b.indices, [0, 1, 2]);
    const noCrop = new DataLoader({
      files: [...files, join(dir, "missing.nii.gz")],
      transforms: [selectChannel(0)],
      batchSize: 4,
      shuffle: false,
    });
    await assert.rejects(
      () => Array.fromAsync(noCrop.batches()),
      /loader: item 3: NIfTI file '.*missing\.nii\.gz': cannot read/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: warmup in 2 Web Workers fills the disk cache with the same volumes as the main thread", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const task = await writeSyntheticDataset(dir, { numTraining: 4, shape: [20, 18, 14], seed: 4 });
    const files = (await readDatasetJson(task)).training.map((t) => t.image);
    const transforms = [selectChannel(0), orientation("RAS"), spacing([1.1, 1.1, 1.1])];
    const viaWorkers = new DataLoader({ files, transforms, batchSize: 1, cacheDir: join(dir, "c1") });
    const seen: number[] = [];
    await viaWorkers.warmup({ workers: 2, onItem: (d) => seen.push(d) });
    assert.deepEqual(seen, [1, 2, 3, 4]);
    const local = new DataLoader({ files, transforms, batchSize: 1, cacheDir: join(dir, "c2") });
    for (let i = 0; i < files.length; i++) {
      const a = await viaWorkers.preprocessed(i);
      const b = await local.preprocessed(i);
      assert.deepEqual(a.shape, b.shape);
      assert.deepEqual(Array.from(a.data), Array.from(b.data));
    }
    assert.equal(viaWorkers.cache!.hits, 4);
    assert.equal(viaWorkers.cache!.misses, 0);
    // A worker error names the file.
    const bad = new DataLoader({
      files: [files[0], join(dir, "nope.nii.gz")],
      transforms,
      batchSize: 1,
      cacheDir: join(dir, "c3"),
    });
    await assert.rejects(
      () => bad.warmup({ workers: 2 }),
      /loader: item 1: NIfTI file '.*nope\.nii\.gz': cannot read/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: a failing stage (cached or random part) names the file once, with the step", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const task = await writeSyntheticDataset(dir, { numTraining: 1, shape: [10, 10, 8], seed: 5 });
    const [file] = (await readDatasetJson(task)).training.map((t) => t.image);
    const boom = (random: boolean): Transform => ({
      name: "boom",
      params: {},
      random,
      apply: () => {
        throw new Error("boom: out of luck");
      },
    });
    for (const random of [false, true]) {
      const loader = new DataLoader({
        files: [file],
        transforms: [selectChannel(0), boom(random)],
        batchSize: 1,
      });
      const err = await loader.sample(0).then(() => null, (e: Error) => e);
      assert.ok(err, "the stage error must surface");
      assert.match(
        err.message,
        /^loader: item 0: NIfTI file '.*BRATS_001\.nii\.gz': step 'boom' failed: boom: out of luck$/,
      );
      assert.equal(err.message.split(file).length, 2, `file named once: ${err.message}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cache: temporary files of interrupted writes are removed by the first store, live ones kept", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const task = await writeSyntheticDataset(dir, { numTraining: 1, shape: [8, 8, 6], seed: 6 });
    const [file] = (await readDatasetJson(task)).training.map((t) => t.image);
    const cacheDir = join(dir, "cache");
    await Deno.mkdir(cacheDir);
    const done = new Deno.Command(Deno.execPath(), { args: ["eval", "0"] }).spawn();
    await done.status;
    const uuid = "0123abcd-0123-4567-89ab-0123456789ab";
    const names = {
      dead: `aa.vol.${done.pid}-${uuid}.tmp`, // its process has ended
      live: `bb.vol.1-${uuid}.tmp`, // pid 1 runs
      oldFresh: `cc.vol.${uuid}.tmp`, // an older version's, no pid, recent: kept
      oldStale: `dd.vol.${uuid}.tmp`, // same, two days old: removed
      other: "notes.txt",
    };
    for (const n of Object.values(names)) await Deno.writeTextFile(join(cacheDir, n), "x");
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    await Deno.utime(join(cacheDir, names.oldStale), twoDaysAgo, twoDaysAgo);
    const cache = new VolumeCache(cacheDir);
    const steps = [selectChannel(0)];
    await cache.getOrCompute(file, steps, () => ({
      data: new Float32Array(8),
      shape: [1, 2, 2, 2],
      affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
      spacing: [1, 1, 1],
    }));
    const left = (await Array.fromAsync(Deno.readDir(cacheDir))).map((e) => e.name).sort();
    const entry = cache.entryPath(file, steps).split("/").at(-1)!;
    assert.deepEqual(left, [names.live, names.oldFresh, entry, names.other].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
