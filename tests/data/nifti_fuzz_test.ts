import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { loadCase } from "../fixtures.ts";
import { encodeNifti, generatePhantom, MT19937, NiftiError, parseNifti } from "../../data/mod.ts";

/** Valid inputs: the nifti_io fixture files when present, plus files of our own writer. */
function seeds(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  const fx = loadCase("data/nifti_io");
  if (fx) {
    for (const f of Object.keys(fx.meta.nifti)) out.push({ name: f, bytes: Deno.readFileSync(fx.file(f)) });
  }
  const ph = generatePhantom(4, { shape: [10, 9, 8] });
  out.push({ name: "own.nii", bytes: encodeNifti(ph.image, { dtype: "int16" }) });
  out.push({ name: "own.nii.gz", bytes: encodeNifti(ph.image, { dtype: "float32", gzip: true }) });
  return out;
}

/** Asserts that parsing either succeeds consistently or throws our NiftiError naming the file. */
function check(name: string, bytes: Uint8Array, what: string): "ok" | "error" {
  const t0 = performance.now();
  try {
    const img = parseNifti(bytes, name);
    const [c, x, y, z] = img.volume.shape;
    assert.equal(img.volume.data.length, c * x * y * z, `${what}: data length`);
    return "ok";
  } catch (e) {
    if (!(e instanceof NiftiError)) assert.fail(`${what}: unexplained exception ${(e as Error)?.stack ?? e}`);
    assert.ok(e.message.includes(`'${name}'`), `${what}: message does not name the file: ${e.message}`);
    return "error";
  } finally {
    assert.ok(performance.now() - t0 < 2000, `${what}: took too long`);
  }
}

Deno.test("nifti fuzz: random byte flips and truncations give successful reads or our clear errors", () => {
  const inputs = seeds();
  const rng = new MT19937(2024);
  const counts = { ok: 0, error: 0 };
  for (let trial = 0; trial < 400; trial++) {
    const src = inputs[rng.interval(inputs.length - 1)];
    let bytes: Uint8Array = src.bytes.slice();
    const mode = rng.interval(3);
    let what = `${src.name} trial ${trial}`;
    if (mode === 0) {
      const len = rng.interval(bytes.length - 1);
      bytes = bytes.slice(0, len);
      what += ` truncated to ${len}`;
    } else {
      // Flip bytes; for gzip inputs, mode 2 flips the decompressed bytes and re-compresses (reaches the header logic).
      const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
      let raw: Uint8Array = bytes;
      if (gz && mode === 2) raw = new Uint8Array(gunzipSync(bytes));
      const flips = 1 + rng.interval(7);
      for (let k = 0; k < flips; k++) {
        // Mostly in the header, where the decisions are.
        const pos = rng.interval(1) === 0
          ? rng.interval(Math.min(351, raw.length - 1))
          : rng.interval(raw.length - 1);
        raw[pos] ^= 1 << rng.interval(7);
      }
      bytes = gz && mode === 2 ? new Uint8Array(gzipSync(raw)) : raw;
      what += ` ${flips} flips (mode ${mode})`;
    }
    counts[check(src.name, bytes, what)]++;
  }
  assert.ok(counts.error > 20 && counts.ok > 20, JSON.stringify(counts));
});

Deno.test("nifti bad input: clear errors naming the file and the problem", () => {
  const ph = generatePhantom(1, { shape: [6, 5, 4] });
  const good = encodeNifti(ph.image, { dtype: "int16" });
  const wrongMagic = good.slice();
  wrongMagic[344] = "x".charCodeAt(0);
  assert.throws(() => parseNifti(wrongMagic, "m.nii"), /NIfTI file 'm\.nii': wrong magic "x\+1"/);
  assert.throws(
    () => parseNifti(good.slice(0, 100), "short.nii"),
    /'short\.nii': too short for a NIfTI-1 header/,
  );
  assert.throws(
    () => parseNifti(good.slice(0, good.length - 10), "cut.nii"),
    /'cut\.nii': dims \[\d+, \d+, \d+, 4\] of int16 need \d+ bytes .*truncated, or dims wrong/,
  );
  const bigDims = good.slice();
  new DataView(bigDims.buffer).setInt16(42, 500, true);
  assert.throws(
    () => parseNifti(bigDims, "dims.nii"),
    /'dims\.nii': dims \[500, \d+, \d+, 4\] of int16 need/,
  );
  const gz = gzipSync(good);
  assert.throws(
    () => parseNifti(new Uint8Array(gz.subarray(0, gz.length - 30)), "t.nii.gz"),
    /'t\.nii\.gz': corrupt or truncated gzip data/,
  );
  const notHdr = new Uint8Array(400);
  assert.throws(() => parseNifti(notHdr, "zero.nii"), /'zero\.nii': wrong sizeof_hdr/);
  const dt = good.slice();
  new DataView(dt.buffer).setInt16(70, 32, true);
  assert.throws(() => parseNifti(dt, "c.nii"), /'c\.nii': unsupported datatype code 32/);
});
