import assert from "node:assert/strict";
import { join } from "node:path";
import {
  axcodes,
  generatePhantom,
  orientation,
  readDatasetJson,
  readNifti,
  writeSyntheticDataset,
} from "../../data/mod.ts";

Deno.test("synthetic phantom: deterministic, non-RAS affine, brain-like contrasts, tumour bright on FLAIR", () => {
  const a = generatePhantom(11, { shape: [40, 40, 30] });
  const b = generatePhantom(11, { shape: [40, 40, 30] });
  assert.deepEqual(a.image.data, b.image.data);
  assert.equal(a.axcodes, b.axcodes);
  assert.notDeepEqual(generatePhantom(12, { shape: [40, 40, 30] }).image.data, a.image.data);
  assert.notEqual(a.axcodes, "RAS");
  assert.equal(axcodes(a.image.affine), a.axcodes);
  assert.equal(a.image.shape[0], 4);
  // After reorientation the grid is the requested RAS shape.
  const ras = orientation("RAS").apply(a.image);
  const lab = orientation("RAS").apply(a.label);
  assert.deepEqual(ras.shape, [4, 40, 40, 30]);
  // Integer values in int16 range, background zero at the corners.
  for (const v of a.image.data) assert.ok(Number.isInteger(v) && v >= 0 && v <= 32767);
  assert.equal(ras.data[0], 0);
  // Mean FLAIR of tumour (labels 1-3) is well above mean FLAIR of normal brain.
  const n = 40 * 40 * 30;
  let tum = 0, nt = 0, brain = 0, nb = 0;
  for (let i = 0; i < n; i++) {
    if (lab.data[i] > 0) (tum += ras.data[i]), nt++;
    else if (ras.data[i] > 300) (brain += ras.data[i]), nb++;
  }
  assert.ok(nt > 20, `tumour voxels ${nt}`);
  assert.ok(tum / nt > 1.3 * (brain / nb), `FLAIR tumour ${tum / nt} vs brain ${brain / nb}`);
  // Labels use only the BraTS values.
  assert.ok([...new Set(lab.data)].every((v) => [0, 1, 2, 3].includes(v)));
  // Explicit axis codes are honoured.
  assert.equal(axcodes(generatePhantom(1, { shape: [10, 12, 8], axcodes: "PIR" }).image.affine), "PIR");
});

Deno.test("synthetic dataset: Task01 layout, 4-D int16 images, labels, dataset.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const task = await writeSyntheticDataset(dir, {
      numTraining: 3,
      numTest: 1,
      shape: [16, 18, 12],
      seed: 5,
    });
    assert.equal(task, join(dir, "Task01_BrainTumour"));
    const m = await readDatasetJson(task);
    assert.equal(m.name, "BRATS");
    assert.equal(m.numTraining, 3);
    assert.equal(m.test.length, 1);
    assert.deepEqual(m.modality, { "0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w" });
    const raw = JSON.parse(await Deno.readTextFile(join(task, "dataset.json")));
    assert.equal(raw.training[0].image, "./imagesTr/BRATS_001.nii.gz");
    const img = await readNifti(m.training[0].image);
    assert.equal(img.header.datatype, 4);
    assert.equal(img.header.dim[0], 4);
    assert.equal(img.fileShape[3], 4);
    const lbl = await readNifti(m.training[0].label!);
    assert.equal(lbl.header.dim[0], 3);
    // Same seed, same files.
    const dir2 = await Deno.makeTempDir();
    try {
      const task2 = await writeSyntheticDataset(dir2, {
        numTraining: 3,
        numTest: 1,
        shape: [16, 18, 12],
        seed: 5,
      });
      const again = await readNifti(join(task2, "imagesTr", "BRATS_001.nii.gz"));
      assert.deepEqual(again.volume.data, img.volume.data);
    } finally {
      await Deno.remove(dir2, { recursive: true });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
