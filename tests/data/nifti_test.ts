// deno-lint-ignore-file no-explicit-any -- reads untyped fixture meta.json
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadCase } from "../fixtures.ts";
import { encodeNifti, parseNifti, readNifti, writeNifti } from "../../data/mod.ts";
import { axcodes, maxAbsDiff } from "../../data/affine.ts";
import { makeVolume } from "../../data/volume.ts";

const nio = loadCase("data/nifti_io");

/** Reorders our [C, X, Y, Z] data into the fixture's (X, Y, Z[, C]) C-order. */
function toFileOrder(data: Float32Array, shape: number[]): Float32Array {
  const [nc, nx, ny, nz] = shape;
  const out = new Float32Array(data.length);
  for (let c = 0; c < nc; c++) {
    for (let x = 0; x < nx; x++) {
      for (let y = 0; y < ny; y++) {
        for (let z = 0; z < nz; z++) {
          out[((x * ny + y) * nz + z) * nc + c] = data[((c * nx + x) * ny + y) * nz + z];
        }
      }
    }
  }
  return out;
}

Deno.test({
  name: "nifti_io fixtures: data, affine (MONAI and nibabel), header fields",
  ignore: nio === null,
  fn: async () => {
    const fx = nio!;
    const atol = fx.meta.config.tolerance.affine_atol;
    const names = Object.keys(fx.meta.nifti);
    assert.ok(names.length > 0);
    for (const fname of names) {
      const spec = fx.meta.nifti[fname];
      const img = await readNifti(fx.file(spec.file));
      const exp = spec.expected;
      assert.deepEqual(img.fileShape, exp.shape, fname);
      // The README names each file's expected voxels `<stem>/data` (stem = file name without .nii / .nii.gz).
      const stem = spec.file.replace(/\.nii(\.gz)?$/, "");
      const t = fx.tensor(`${stem}/data`);
      const got = toFileOrder(img.volume.data, img.volume.shape);
      assert.equal(got.length, t.data.length, fname);
      for (let i = 0; i < got.length; i++) {
        if (got[i] !== t.data[i]) {
          assert.fail(`${fname}: voxel ${i} is ${got[i]}, expected ${t.data[i]} (exact)`);
        }
      }
      const monai = fx.meta.affines[exp.monai_affine];
      const nib = fx.meta.affines[exp.nibabel_affine];
      assert.ok(
        maxAbsDiff(img.volume.affine, monai) <= atol,
        `${fname}: MONAI affine ${JSON.stringify(img.volume.affine)}`,
      );
      assert.ok(maxAbsDiff(img.nibabelAffine, nib) <= atol, `${fname}: nibabel affine`);
      assert.equal(axcodes(img.nibabelAffine), exp.axcodes, fname);
      if (["sform", "qform", "base"].includes(exp.affine_source)) {
        assert.equal(img.affineSource, exp.affine_source, fname);
      } else assert.equal(img.affineSource, "qform-replaced-sform", fname);
      // Header fields as stored.
      const h = spec.header;
      assert.equal(img.header.littleEndian, h.endianness === "little", fname);
      assert.equal(img.header.datatype, h.datatype);
      assert.equal(img.header.bitpix, h.bitpix);
      assert.deepEqual(img.header.dim, h.dim);
      assert.deepEqual(img.header.pixdim, h.pixdim);
      assert.equal(img.header.voxOffset, h.vox_offset);
      assert.equal(img.header.qformCode, h.qform_code);
      assert.equal(img.header.sformCode, h.sform_code);
      assert.deepEqual(img.header.quaternBCD, h.quatern_bcd);
      assert.deepEqual(img.header.qoffset, h.qoffset);
      if (h.sform_code !== 0) assert.deepEqual(img.header.srow, h.srow);
      if (h.scl_slope !== null) assert.equal(img.header.sclSlope, h.scl_slope);
      else {assert.ok(
          Number.isNaN(img.header.sclSlope) || img.header.sclSlope === 0 || img.header.sclSlope === 1,
        );}
      // Channel-first: a 4-D file's last dim becomes C.
      const nd = exp.shape.length;
      assert.equal(img.volume.shape[0], nd === 4 ? exp.shape[3] : 1);
    }
  },
});

Deno.test("nifti write/read round trip: float32 and int16, .nii and .nii.gz, 3-D and 4-D, header fields per NIfTI-1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const affine = [[0, 0, -1.5, 30], [-0.9, 0, 0, 12.25], [0, 1.2, 0, -7], [0, 0, 0, 1]];
    const shape: [number, number, number, number] = [2, 5, 4, 3];
    const data = new Float32Array(2 * 5 * 4 * 3).map((_, i) => Math.round(Math.sin(i) * 1000) / 4);
    const vol = makeVolume(data, shape, affine);
    for (const dtype of ["float32", "int16"] as const) {
      for (const ext of [".nii", ".nii.gz"]) {
        for (const nc of [1, 2]) {
          const v = nc === 2 ? vol : makeVolume(data.slice(0, 60), [1, 5, 4, 3], affine);
          const path = join(dir, `t_${dtype}_${nc}${ext}`);
          await writeNifti(path, v, { dtype, slope: dtype === "int16" ? 0.25 : 1 });
          const back = await readNifti(path);
          assert.deepEqual(back.volume.shape, v.shape);
          assert.deepEqual(Array.from(back.volume.data), Array.from(v.data), `${dtype}${ext}`);
          assert.ok(maxAbsDiff(back.volume.affine, affine) < 1e-6);
          const h = back.header;
          assert.equal(h.dim[0], nc === 2 ? 4 : 3);
          assert.equal(h.datatype, dtype === "float32" ? 16 : 4);
          assert.equal(h.bitpix, dtype === "float32" ? 32 : 16);
          assert.equal(h.voxOffset, 352);
          assert.equal(h.magic, "n+1");
          assert.equal(h.xyztUnits & 7, 2, "spatial units mm");
          assert.equal(h.qformCode, 1);
          assert.equal(h.sformCode, 1);
          assert.ok(
            Math.abs(h.pixdim[1] - 0.9) < 1e-6 && Math.abs(h.pixdim[2] - 1.2) < 1e-6 &&
              Math.abs(h.pixdim[3] - 1.5) < 1e-6,
          );
          // The qform alone must give the same affine as the sform.
          const qOnly = encodeNifti(v, { dtype, sformCode: 0, slope: dtype === "int16" ? 0.25 : 1 });
          const qImg = parseNifti(qOnly, "qonly");
          assert.equal(qImg.affineSource, "qform");
          assert.ok(maxAbsDiff(qImg.volume.affine, affine) < 1e-5, JSON.stringify(qImg.volume.affine));
        }
      }
    }
    // Raw header bytes per the NIfTI-1 spec: sizeof_hdr 348, magic "n+1\0" at 344, empty extension flag, vox_offset 352.
    const raw = encodeNifti(vol, { dtype: "int16" });
    const dv = new DataView(raw.buffer);
    assert.equal(dv.getInt32(0, true), 348);
    assert.deepEqual(Array.from(raw.subarray(344, 352)), [0x6e, 0x2b, 0x31, 0, 0, 0, 0, 0]);
    assert.equal(dv.getFloat32(108, true), 352);
    assert.equal(dv.getInt16(40, true), 4);
    assert.equal(dv.getInt16(48, true), 2, "dim[4] = channels");
    assert.equal(Math.abs(dv.getFloat32(76, true)), 1, "pixdim[0] = qfac = ±1");
    assert.equal(raw.length, 352 + 2 * vol.data.length);
    // Left-handed affine: qfac = -1.
    const lh = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -2, 0], [0, 0, 0, 1]];
    const lhImg = parseNifti(
      encodeNifti(makeVolume(new Float32Array(8), [1, 2, 2, 2], lh), { sformCode: 0 }),
      "lh",
    );
    assert.equal(lhImg.header.pixdim[0], -1);
    assert.ok(maxAbsDiff(lhImg.volume.affine, lh) < 1e-6);
    // Values that do not fit int16 are refused.
    assert.throws(
      () => encodeNifti(makeVolume(new Float32Array([1e6]), [1, 1, 1, 1], lh), { dtype: "int16" }),
      /does not fit/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "nifti reader: channel subset of every 4-D fixture file",
  ignore: nio === null,
  fn: async () => {
    // The 4-D files are those whose expected shape has a channel axis (meta.nifti[*].expected.shape, X, Y, Z, C).
    const fourD = Object.values<any>(nio!.meta.nifti).filter((spec) => spec.expected.shape.length === 4);
    assert.ok(fourD.length > 0, "nifti_io lists no 4-D file");
    for (const spec of fourD) {
      const path = nio!.file(spec.file), channels = spec.expected.shape[3];
      const all = await readNifti(path);
      for (const c of new Set([0, Math.floor(channels / 2), channels - 1])) {
        const one = await readNifti(path, { channels: [c] });
        const n = one.volume.data.length;
        assert.deepEqual(
          Array.from(one.volume.data),
          Array.from(all.volume.data.subarray(c * n, (c + 1) * n)),
          `${spec.file} channel ${c}`,
        );
      }
      await assert.rejects(
        () => readNifti(path, { channels: [channels] }),
        new RegExp(`channel ${channels} requested but the image has ${channels}`),
      );
    }
  },
});

Deno.test("nifti reader: MONAI replaces a mismatching sform by the qform, even with qform_code 0", () => {
  const eye = [[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]];
  const v = makeVolume(new Float32Array(24), [1, 4, 3, 2], eye);
  for (const qformCode of [0, 1]) {
    const bytes = encodeNifti(v, { qformCode, sformCode: 1 });
    const dv = new DataView(bytes.buffer);
    for (let r = 0; r < 3; r++) dv.setFloat32(280 + (r * 4 + r) * 4, 2, true); // sform zooms 2 vs pixdim 1
    const img = parseNifti(bytes, "e.nii");
    assert.equal(img.affineSource, "qform-replaced-sform");
    assert.ok(maxAbsDiff(img.volume.affine, eye) < 1e-6);
    assert.equal(img.nibabelAffine[0][0], 2, "nibabel itself keeps the sform");
  }
  // An sform whose zooms agree with pixdim is kept even when it differs from the qform (fixture c covers oblique).
  const ok = encodeNifti(v, { qformCode: 1, sformCode: 1 });
  new DataView(ok.buffer).setFloat32(280 + 3 * 4, 9, true); // translation only
  const img = parseNifti(ok, "e2.nii");
  assert.equal(img.affineSource, "sform");
  assert.equal(img.volume.affine[0][3], 9);
});
