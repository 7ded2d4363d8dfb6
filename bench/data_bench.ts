/**
 * Data-pipeline benchmarks (`deno bench -A bench/data_bench.ts`): one synthetic 240×240×155×4 int16 .nii.gz
 * (BraTS geometry) read and preprocessed to a 1.1 mm RAS FLAIR volume (target ≤ 3 s), and cached patch
 * throughput for 112×128×80 random crops + percentile scaling (target ≥ 20 patches/s: ≤ 50 ms per patch).
 */
import { join } from "node:path";
import {
  DataLoader,
  generatePhantom,
  loadAndPreprocess,
  orientation,
  randSpatialCrop,
  readNifti,
  scaleIntensityRangePercentiles,
  selectChannel,
  spacing,
  writeNifti,
} from "../data/mod.ts";

const dir = await Deno.makeTempDir({ prefix: "ldm3d_data_bench_" });
const file = join(dir, "BRATS_001.nii.gz");
const phantom = generatePhantom(1, { shape: [240, 240, 155] });
await writeNifti(file, phantom.image, { dtype: "int16", gzipLevel: 6 });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

const prefix = [selectChannel(0), orientation("RAS"), spacing([1.1, 1.1, 1.1])];
const intensity = scaleIntensityRangePercentiles({ lower: 0, upper: 99.5, bMin: 0, bMax: 1 });

Deno.bench({
  name: "first pass: read 240x240x155x4 int16 .nii.gz + FLAIR + RAS + 1.1 mm (target <= 3 s)",
  group: "preprocess",
  n: 5,
  warmup: 1,
  async fn() {
    const v = await loadAndPreprocess(file, prefix);
    if (v.shape[1] !== 218 || v.shape[3] !== 141) throw new Error(`unexpected shape ${v.shape}`);
  },
});

Deno.bench({
  name: "read all 4 channels of the same file (decode only, for reference)",
  group: "preprocess",
  n: 5,
  warmup: 1,
  async fn() {
    const img = await readNifti(file);
    if (img.volume.shape[0] !== 4) throw new Error("expected 4 channels");
  },
});

// Cached: the disk cache holds the 1.1 mm volume; each iteration is one 112x128x80 patch.
const diskLoader = new DataLoader({
  files: [file],
  transforms: [...prefix, randSpatialCrop([112, 128, 80], 1608637542), intensity],
  batchSize: 1,
  cacheDir: join(dir, "cache"),
  memoryCache: false,
});
await diskLoader.warmup();
const memLoader = new DataLoader({
  files: [file],
  transforms: [...prefix, randSpatialCrop([112, 128, 80], 1608637542), intensity],
  batchSize: 1,
  cacheDir: join(dir, "cache"),
});
await memLoader.warmup();

Deno.bench({
  name: "cached patch (disk cache read + random crop 112x128x80 + percentile scaling) (target <= 50 ms)",
  group: "cached",
  n: 40,
  warmup: 3,
  async fn() {
    await diskLoader.sample(0);
  },
});

Deno.bench({
  name: "cached patch (memory cache + random crop 112x128x80 + percentile scaling)",
  group: "cached",
  n: 60,
  warmup: 3,
  async fn() {
    await memLoader.sample(0);
  },
});

Deno.bench({
  name: "cached batch of 2 patches via DataLoader.batches() (prefetch 2)",
  group: "cached",
  n: 20,
  warmup: 2,
  async fn() {
    const loader = new DataLoader({
      files: [file, file],
      transforms: [...prefix, randSpatialCrop([112, 128, 80], 7), intensity],
      batchSize: 2,
      cacheDir: join(dir, "cache"),
      memoryCache: false,
    });
    for await (const b of loader.batches()) if (b.shape[0] !== 2) throw new Error("bad batch");
  },
});
