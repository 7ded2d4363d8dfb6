/**
 * Hostile NIfTI input (issue 15): every case fails with an error naming the file, in bounded time and memory.
 * The files go through the reader and the reference chain in a child process whose resident memory the test
 * watches (killed past {@link RSS_LIMIT_MIB}) and whose peak it reports.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseNifti, referenceTransforms, resampledVoxelLimit, spacing } from "../../data/mod.ts";
import type { Outcome } from "./hostile_child.ts";
import { gzipBomb, niftiBytes, patchHeader } from "./hostile_nifti.ts";

/** The child is killed when its resident memory passes this (without the caps, the bomb alone needs > 3 GiB). */
const RSS_LIMIT_MIB = 1024;
/** And when it runs longer than this. */
const TIME_LIMIT_MS = 120_000;
const PATCH: [number, number, number] = [32, 32, 32];

/** The hostile files, by name. */
function hostileFiles(): Record<string, Uint8Array> {
  const plain = (voxel: [number, number, number]) => niftiBytes([12, 12, 12], voxel);
  const lone = (i: number) => (i === (3 * 12 + 4) * 12 + 5 ? 100 : 0); // only voxel [3, 4, 5] (C-order [x][y][z])
  return {
    "normal.nii": plain([1, 1, 1]),
    "voxel_100mm.nii": plain([100, 100, 100]),
    "sparse_3gib.nii": plain([1, 1, 1]),
    "voxel_zero.nii": patchHeader(plain([1, 1, 1]), { voxel: [0, 1, 1] }),
    "voxel_tiny.nii": plain([1e-4, 1, 1]),
    "voxel_150mm.nii": plain([150, 1, 1]),
    "voxel_nan.nii": patchHeader(plain([1, 1, 1]), { voxel: [NaN, 1, 1] }),
    "subvoxel.nii": niftiBytes([1, 12, 12], [0.5, 1, 1]),
    "slope_overflow.nii": patchHeader(niftiBytes([12, 12, 12], [1, 1, 1], { value: lone }), { slope: 1e38 }),
    "bomb_3gib.nii.gz": gzipBomb(niftiBytes([64, 64, 64], [1, 1, 1]).slice(0, 352), 3 * 2 ** 30),
    "dims_huge.nii.gz": gzipBomb(
      patchHeader(niftiBytes([8, 8, 8], [1, 1, 1], { dtype: "float32" }), { dims: [4096, 4096, 4096] })
        .slice(0, 352),
      2 ** 20,
    ),
  };
}

/** What each hostile file must fail with (the file name is checked separately for all). */
const EXPECTED: Record<string, RegExp> = {
  "voxel_100mm.nii":
    /step 'spacing' failed: spacing: resampling \[12, 12, 12\] voxels of \[100, 100, 100\] mm to \[1\.1, 1\.1, 1\.1\] mm gives \[1001, 1001, 1001\] × 1 = 1003003001 voxels .* over the limit of 134217728 voxels \(512 MiB as float32\); check the header's voxel size or raise max_resampled_voxels/,
  "sparse_3gib.nii": /file is 3221225472 bytes \(3\.0 GiB\), over the limit of 2148532224 bytes; not read/,
  "voxel_zero.nii": /voxel size \[0, 1, 1\] mm \(from the sform\) is outside the accepted 0\.001\.\.100 mm/,
  "voxel_tiny.nii": /voxel size \[0\.0001, 1, 1\] mm .* outside the accepted 0\.001\.\.100 mm/,
  "voxel_150mm.nii": /voxel size \[150, 1, 1\] mm .* outside the accepted/,
  "voxel_nan.nii": /affine from the .* is not finite/,
  "subvoxel.nii":
    /step 'spacing' failed: spacing: resampling \[1, 12, 12\] voxels of \[0\.5, 1, 1\] mm to \[1\.1, 1\.1, 1\.1\] mm: the image covers only \[0\.455, 10\.9, 10\.9\] output voxels, smaller than one voxel/,
  "slope_overflow.nii":
    /voxel \[3, 4, 5\] is Infinity after scaling by scl_slope 9\.99\d*e\+37 and scl_inter 0, beyond the float32 range; 1 non-finite voxel\(s\) in all/,
  "bomb_3gib.nii.gz":
    /gzip data inflates to more than 1573216 bytes, but the header announces 524640 \(vox_offset \+ voxel data; 1048576 bytes of trailing data allowed\): a decompression bomb or wrong dims; stopped/,
  "dims_huge.nii.gz":
    /dims \[4096, 4096, 4096\] of float32 announce 274877907296 bytes \(256\.0 GiB; 256\.0 GiB as float32\), over the limit of 2147483648 bytes/,
};

/** Runs the child on `request`, watching its RSS; returns its report. */
async function runChild(
  request: unknown,
): Promise<{ files: Outcome[]; fuzz: Outcome[]; peakRssMiB: number }> {
  const script = new URL("./hostile_child.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", script, JSON.stringify(request)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = "";
  const t0 = performance.now();
  const watch = setInterval(() => {
    let rss = 0;
    try {
      const m = Deno.readTextFileSync(`/proc/${child.pid}/status`).match(/VmRSS:\s+(\d+) kB/);
      rss = m ? Number(m[1]) / 1024 : 0;
    } catch { /* exited, or not Linux */ }
    const over = rss > RSS_LIMIT_MIB
      ? `resident memory ${rss.toFixed(0)} MiB > ${RSS_LIMIT_MIB} MiB`
      : performance.now() - t0 > TIME_LIMIT_MS
      ? `still running after ${TIME_LIMIT_MS} ms`
      : "";
    if (over && !killed) {
      killed = over;
      child.kill("SIGKILL");
    }
  }, 25);
  const out = await child.output();
  clearInterval(watch);
  assert.equal(killed, "", `hostile-input child killed: ${killed}`);
  const stdout = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `child failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

let report: Promise<{ files: Outcome[]; peakRssMiB: number; dir: string }> | null = null;

/** Writes the hostile files and runs them through the child once for all tests of this file. */
function hostileReport(): Promise<{ files: Outcome[]; peakRssMiB: number; dir: string }> {
  report ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "hostile-" });
    try {
      const names = Object.keys(hostileFiles());
      for (const [name, bytes] of Object.entries(hostileFiles())) {
        await Deno.writeFile(join(dir, name), bytes);
      }
      // A valid header followed by 3 GiB of (sparse) voxel data that the header does not announce.
      await Deno.truncate(join(dir, "sparse_3gib.nii"), 3 * 2 ** 30);
      const r = await runChild({ files: names.map((n) => join(dir, n)), patch: PATCH });
      console.log(`hostile files: child peak RSS ${r.peakRssMiB.toFixed(0)} MiB`);
      return { files: r.files, peakRssMiB: r.peakRssMiB, dir };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return report;
}

for (const name of ["normal.nii", ...Object.keys(EXPECTED)]) {
  Deno.test(`hostile NIfTI '${name}': ${name === "normal.nii" ? "loads" : "rejected, naming the file"}`, async () => {
    const { files, dir } = await hostileReport();
    const o = files.find((f) => f.name === join(dir, name));
    assert.ok(o, `no outcome for ${name}`);
    if (name === "normal.nii") {
      assert.equal(o.error, undefined, o.error);
      assert.deepEqual(o.shape, [1, 11, 11, 11]);
      assert.ok(o.finite);
      return;
    }
    assert.ok(o.error, `${name} was accepted: shape ${o.shape}`);
    assert.ok(o.niftiError, `not a NiftiError: ${o.error}`);
    assert.ok(o.error.startsWith(`NIfTI file '${join(dir, name)}': `), o.error);
    assert.equal(o.error.split(join(dir, name)).length, 2, `the file is named once: ${o.error}`);
    assert.match(o.error, EXPECTED[name]);
    assert.ok(o.ms < 10_000, `${name} took ${o.ms} ms`);
  });
}

Deno.test("hostile NIfTI: the whole set runs within the memory bound", async () => {
  const { peakRssMiB } = await hostileReport();
  assert.ok(peakRssMiB < RSS_LIMIT_MIB, `peak RSS ${peakRssMiB} MiB`);
});

Deno.test("hostile NIfTI fuzz: degenerate voxel sizes, dims, slopes, NaN voxels give a finite volume or our error naming the file", async () => {
  const r = await runChild({ files: [], patch: [16, 16, 16], fuzz: { seed: 15, trials: 600, cap: 2 ** 18 } });
  console.log(`fuzz: child peak RSS ${r.peakRssMiB.toFixed(0)} MiB`);
  const counts = { ok: 0, error: 0 };
  for (const o of r.fuzz) {
    const what = `${o.name} (${o.what})`;
    assert.ok(o.ms < 5_000, `${what} took ${o.ms} ms`);
    if (o.error === undefined) {
      assert.ok(o.finite, `${what}: loaded with non-finite values`);
      counts.ok++;
    } else {
      assert.ok(o.niftiError, `${what}: unexplained error ${o.error}`);
      assert.ok(o.error.startsWith(`NIfTI file '${o.name}': `), `${what}: ${o.error}`);
      counts.error++;
    }
  }
  assert.ok(counts.ok > 60 && counts.error > 60, JSON.stringify(counts));
  assert.ok(r.peakRssMiB < RSS_LIMIT_MIB, `peak RSS ${r.peakRssMiB} MiB`);
});

Deno.test("resampled-size cap: derived from the crop size and the configured cap; checked before allocating", () => {
  assert.equal(resampledVoxelLimit([32, 32, 32], 1000), 32768, "a crop larger than the cap raises it");
  assert.equal(resampledVoxelLimit([32, 32, 32], 2 ** 20), 2 ** 20);
  const val = referenceTransforms({
    stage: "autoencoder",
    train: false,
    channel: 0,
    spacing: [1, 1, 1],
    patchSize: [16, 16, 16],
    autoencoderLevels: 3,
    maxResampledVoxels: 5000,
  });
  assert.equal(val[2].params.maxVoxels, 24 ** 3, "the validation crop [24, 24, 24] sets the floor");
  const img = parseNifti(niftiBytes([10, 10, 10], [2, 2, 2]), "up.nii").volume;
  assert.throws(
    () => spacing([1, 1, 1], { maxVoxels: 19 ** 3 - 1 }).apply(img),
    /gives \[19, 19, 19\] × 1 = 6859 voxels .* over the limit of 6858 voxels/,
  );
  assert.deepEqual(spacing([1, 1, 1], { maxVoxels: 19 ** 3 }).apply(img).shape, [1, 19, 19, 19]);
});
