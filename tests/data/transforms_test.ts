// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
import assert from "node:assert/strict";
import { loadCase, relError } from "../fixtures.ts";
import {
  axcodes,
  axcodesToOrnt,
  castFloat16,
  centerCropBox,
  centerCropOrPad,
  centerSpatialCrop,
  compose,
  ioOrientation,
  kthSmallest,
  makeVolume,
  maxAbsDiff,
  MT19937,
  orientation,
  orntTransform,
  percentile,
  randomCropStart,
  randSpatialCrop,
  readNifti,
  resampleTrilinear,
  scaleIntensityRangePercentiles,
  selectChannel,
  spacing,
  spatialPad,
  specOf,
  splitAtFirstRandom,
  transformFromSpec,
  type Volume,
} from "../../data/mod.ts";

const orient = loadCase("data/orientation");
const space = loadCase("data/spacing");
const inten = loadCase("data/intensity");
const full = loadCase("data/full_pipeline");

function vol(t: { data: Float32Array | Int32Array; shape: number[] }, affine: number[][]): Volume {
  return makeVolume(Float32Array.from(t.data), t.shape as [number, number, number, number], affine);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test({
  name: "orientation fixtures: every subcase to RAS, exact values and affine",
  ignore: orient === null,
  fn: () => {
    const fx = orient!;
    const atol = fx.meta.config.tolerance.affine_atol;
    const subs = Object.entries(fx.meta.subcases) as [string, any][];
    assert.ok(subs.length > 0);
    for (const [name, sc] of subs) {
      const x = vol(fx.tensor(`${name}/x`), fx.meta.affines[`${name}/affine_in`]);
      const y = fx.tensor(`${name}/y`);
      const ornt = orntTransform(ioOrientation(x.affine), axcodesToOrnt(sc.axcodes_out));
      assert.deepEqual(ornt, sc.ornt, `${name}: ornt`);
      assert.equal(axcodes(x.affine), sc.axcodes_in);
      const out = orientation(sc.axcodes_out).apply(x);
      assert.deepEqual(out.shape, sc.shape_out, name);
      assert.equal(maxDiff(out.data, y.data), 0, `${name}: values must be exact`);
      assert.ok(
        maxAbsDiff(out.affine, fx.meta.affines[`${name}/affine_out`]) <= atol,
        `${name}: affine ${JSON.stringify(out.affine)}`,
      );
    }
  },
});

Deno.test({
  name: "spacing fixtures: every subcase to 1.1 mm (shape, affine, trilinear values, border clamp)",
  ignore: space === null,
  fn: () => {
    const fx = space!;
    const atolAff = fx.meta.config.tolerance.affine_atol;
    const subs = Object.entries(fx.meta.subcases) as [string, any][];
    assert.ok(subs.length > 0);
    for (const [name, sc] of subs) {
      // A subcase may share another's arrays (the oblique variant of a volume stores none of its own): then use
      // the subcase with stored arrays of the same input and output shapes.
      const src = fx.meta.tensors[`${name}/x`]
        ? name
        : subs.find(([other, o]) =>
          fx.meta.tensors[`${other}/x`] && o.shape_in.join() === sc.shape_in.join() &&
          o.shape_out.join() === sc.shape_out.join()
        )?.[0];
      assert.ok(src, `${name}: no stored arrays of shape ${sc.shape_in} → ${sc.shape_out}`);
      const x = vol(fx.tensor(`${src}/x`), fx.meta.affines[`${name}/affine_in`]);
      const y = fx.tensor(`${src}/y`);
      const target = fx.meta.affines[`${name}/affine_out`];
      const pix = [0, 1, 2].map((c) => Math.hypot(target[0][c], target[1][c], target[2][c])) as [
        number,
        number,
        number,
      ];
      const out = spacing(pix).apply(x);
      assert.deepEqual(out.shape, sc.shape_out, name);
      assert.ok(maxAbsDiff(out.affine, target) <= atolAff, `${name}: affine ${JSON.stringify(out.affine)}`);
      const tol = 1e-5 * maxAbs(x.data);
      assert.ok(maxDiff(out.data, y.data) <= tol, `${name}: max diff ${maxDiff(out.data, y.data)} > ${tol}`);
      assert.ok(relError(out.data, y.data) <= 1e-4);
    }
  },
});

Deno.test({
  name: "intensity fixtures: percentile scaling (float32 torch.quantile path and float64 numpy path)",
  ignore: inten === null,
  fn: () => {
    const fx = inten!;
    const subs = Object.entries(fx.meta.subcases) as [string, any][];
    assert.ok(subs.length > 0);
    const t = scaleIntensityRangePercentiles({ lower: 0, upper: 99.5, bMin: 0, bMax: 1 });
    for (const [name, sc] of subs) {
      let x: Float32Array;
      if (fx.meta.tensors[`${name}/x`]) {
        x = Float32Array.from(fx.tensor(`${name}/x`).data);
      } else {
        // Formula-described volume (see the subcase note): x[i] = float32(((i*mult) mod 2^32) >> 12), spikes every period.
        const n = sc.numel;
        x = new Float32Array(n);
        const mult = BigInt(sc.mult);
        for (let i = 0; i < n; i++) {
          const v = Number(((BigInt(i) * mult) & 0xffffffffn) >> 12n);
          x[i] = i % sc.period === 0 ? 3 * 2 ** 22 : v;
        }
      }
      assert.equal(percentile(x, 0), sc.a_min, `${name} a_min`);
      assert.equal(percentile(x, 99.5), sc.a_max, `${name} a_max`);
      const out = t.apply(makeVolume(x, sc.shape, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]));
      if (fx.meta.tensors[`${name}/y`]) {
        const y = fx.tensor(`${name}/y`).data;
        assert.equal(maxDiff(out.data, y), 0, `${name}: exact`);
      } else {
        const idx = fx.tensor(`${name}/sample_index`).data;
        const ys = fx.tensor(`${name}/sample_y`).data;
        for (let k = 0; k < idx.length; k++) assert.equal(out.data[idx[k]], ys[k], `${name} sample ${k}`);
        const sum = out.data.reduce((s, v) => s + v, 0);
        const ref = fx.scalar(`${name}/y_sum_float64`);
        assert.ok(Math.abs(sum - ref) / ref < 1e-9, `${name}: sum ${sum} vs ${ref}`);
      }
      let above = 0;
      for (const v of out.data) if (v > 1) above++;
      assert.ok(Math.abs(above / out.data.length - sc.frac_above_1) < 1e-6, `${name}: fraction above 1`);
    }
  },
});

Deno.test("kthSmallest agrees with sorting (negatives, zeros, duplicates)", () => {
  const rng = new MT19937(3);
  const a = new Float32Array(5000).map(
    () => (rng.interval(9) === 0 ? 0 : Math.round((rng.random() - 0.3) * 1000) / 7),
  );
  a[10] = -0;
  const sorted = Float32Array.from(a).sort();
  for (const k of [0, 1, 17, 2500, 4998, 4999]) assert.equal(kthSmallest(a, k), sorted[k]);
});

Deno.test({
  name:
    "full_pipeline fixtures: every volume through AE train / AE val / diffusion chains with every intermediate",
  ignore: full === null,
  fn: async () => {
    const fx = full!;
    const ex = fx.meta.config.example;
    const vols = Object.entries(fx.meta.volumes) as [string, any][];
    assert.ok(vols.length > 0);
    for (const [name, vm] of vols) {
      const img = await readNifti(fx.file(vm.file));
      assert.deepEqual(img.fileShape, vm.shape);
      const selected = selectChannel(ex.channel).apply(img.volume);
      assert.equal(relError(selected.data, fx.tensor(`${name}/selected`).data), 0, `${name} selected`);
      assert.ok(maxAbsDiff(selected.affine, fx.meta.affines[`${name}/affine_file`]) < 1e-6);
      const oriented = orientation(ex.axcodes).apply(selected);
      assert.deepEqual(oriented.shape, vm.shape_oriented);
      if (fx.meta.tensors[`${name}/oriented`]) {
        assert.equal(relError(oriented.data, fx.tensor(`${name}/oriented`).data), 0, `${name} oriented`);
      }
      assert.ok(maxAbsDiff(oriented.affine, fx.meta.affines[`${name}/affine_oriented`]) < 1e-9);
      const spaced = spacing(ex.spacing).apply(oriented);
      assert.deepEqual(spaced.shape, vm.shape_spaced);
      const spacedRef = fx.tensor(`${name}/spaced`).data;
      assert.ok(maxDiff(spaced.data, spacedRef) <= 1e-5 * maxAbs(spacedRef), `${name} spaced`);
      assert.ok(maxAbsDiff(spaced.affine, fx.meta.affines[`${name}/affine_spaced`]) < 1e-9);

      // Random crop stream: the recorded starts and the next draws.
      const rng = new MT19937(vm.crop_seed);
      for (const draw of vm.ae_train_next_draws) {
        assert.deepEqual(
          randomCropStart(rng, spaced.shape.slice(1), vm.ae_patch),
          draw,
          `${name} crop draws`,
        );
      }
      assert.deepEqual(vm.ae_train_next_draws[0], vm.ae_train_crop_start);
      const scale = scaleIntensityRangePercentiles({
        lower: ex.intensity.lower,
        upper: ex.intensity.upper,
        bMin: ex.intensity.b_min,
        bMax: ex.intensity.b_max,
        clip: ex.intensity.clip,
      });
      const chains: [string, any[], string][] = [
        ["ae_train", [randSpatialCrop(vm.ae_patch, vm.crop_seed), scale], "ae_train"],
        ["ae_val", [centerSpatialCrop(vm.ae_val_patch), scale], "ae_val"],
        ["diffusion", [centerSpatialCrop(vm.diffusion_patch), scale, castFloat16()], "diffusion_fp16"],
      ];
      for (const [chain, steps, tensorName] of chains) {
        const out = compose(steps).apply(spaced);
        assert.deepEqual(out.shape, vm.out_shapes[chain], `${name} ${chain} shape`);
        const ref = fx.tensor(`${name}/${tensorName}`).data;
        if (chain === "diffusion") {
          // 1 fp16 ulp.
          for (let i = 0; i < ref.length; i++) {
            const ulp = Math.max(
              2 ** (Math.floor(Math.log2(Math.max(Math.abs(ref[i]), 2 ** -14))) - 10),
              2 ** -24,
            );
            if (Math.abs(out.data[i] - ref[i]) > ulp) {
              assert.fail(`${name} ${chain}: voxel ${i} ${out.data[i]} vs ${ref[i]}`);
            }
          }
        } else {
          assert.ok(maxDiff(out.data, ref) <= 1e-5, `${name} ${chain}: ${maxDiff(out.data, ref)}`);
        }
      }
      const { start: cs } = centerCropBox(spaced.shape.slice(1), vm.ae_val_patch);
      assert.deepEqual(cs, vm.ae_val_crop_start);
      const { start: ds } = centerCropBox(spaced.shape.slice(1), vm.diffusion_patch);
      assert.deepEqual(ds, vm.diffusion_crop_start);
    }
    // The real geometry's first crop starts from the example seed chain.
    const chain = fx.meta.example_seed_chain;
    const seed = new MT19937(fx.meta.config.example.determinism_seed).nextUint32();
    assert.equal(seed, chain.crop_random_state_seed);
    const rng = new MT19937(seed);
    for (const s of chain.real_geometry.first_8_crop_starts) {
      assert.deepEqual(randomCropStart(rng, chain.real_geometry.spaced_shape, chain.real_geometry.roi), s);
    }
  },
});

Deno.test("crop/pad: centre crop larger than the image keeps the axis; pad is symmetric; affine origin follows", () => {
  const a = [[2, 0, 0, 10], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  const v = makeVolume(new Float32Array(5 * 4 * 3).map((_, i) => i), [1, 5, 4, 3], a);
  const c = centerSpatialCrop([3, 10, 2]).apply(v);
  assert.deepEqual(c.shape, [1, 3, 4, 2]);
  assert.equal(c.affine[0][3], 10 + 2 * 1);
  assert.equal(c.data[0], v.data[(1 * 4 + 0) * 3 + 0]);
  const p = spatialPad([7, 4, 4]).apply(v);
  assert.deepEqual(p.shape, [1, 7, 4, 4]);
  assert.equal(p.affine[0][3], 10 - 2);
  assert.equal(p.data[0], 0);
  assert.equal(p.data[(1 * 4 + 0) * 4 + 0], v.data[0]);
  const cp = centerCropOrPad([4, 6, 3]).apply(v);
  assert.deepEqual(cp.shape, [1, 4, 6, 3]);
});

Deno.test("compose / splitAtFirstRandom: the cacheable prefix ends before the random crop", () => {
  const steps = [
    selectChannel(0),
    orientation("RAS"),
    spacing([1.1, 1.1, 1.1]),
    randSpatialCrop([4, 4, 4], 1),
    castFloat16(),
  ];
  const { deterministic, random } = splitAtFirstRandom(steps);
  assert.deepEqual(deterministic.map((s) => s.name), ["selectChannel", "orientation", "spacing"]);
  assert.deepEqual(random.map((s) => s.name), ["randSpatialCrop", "castFloat16"]);
  assert.equal(compose(steps).random, true);
  assert.throws(
    () =>
      selectChannel(3).apply(
        makeVolume(new Float32Array(1), [1, 1, 1, 1], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [
          0,
          0,
          0,
          1,
        ]]),
      ),
    /channel 3 out of range/,
  );
});

Deno.test("castFloat16 rounds to nearest even", () => {
  const v = makeVolume(new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 1e-8]), [1, 4, 1, 1], [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ]);
  const h = castFloat16().apply(v).data;
  assert.deepEqual(Array.from(h), [1, 1 + 2 * 2 ** -10, 65504, 0]);
});

Deno.test("resampleTrilinear: the general (non-separable) path agrees with the separable one and with a rotation", () => {
  const rng = new MT19937(9);
  const v = makeVolume(new Float32Array(2 * 7 * 6 * 5).map(() => rng.random() * 100), [2, 7, 6, 5], [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ]);
  const diag = [[0.7, 0, 0, 0.2], [0, 1.3, 0, 0], [0, 0, 0.55, 0.1], [0, 0, 0, 1]];
  const nearlyDiag = diag.map((r) => r.slice());
  nearlyDiag[0][1] = 1e-11; // forces the general path, negligible effect
  const a = resampleTrilinear(v, diag, [9, 5, 9]);
  const b = resampleTrilinear(v, nearlyDiag, [9, 5, 9]);
  assert.ok(maxDiff(a.data, b.data) < 1e-5);
  // A 90° in-plane rotation with integer offsets is an exact index shuffle: out(i, j, k) = in(j, 6 - i, k).
  const rot = [[0, 1, 0, 0], [-1, 0, 0, 6], [0, 0, 1, 0], [0, 0, 0, 1]];
  const r = resampleTrilinear(v, rot, [7, 7, 5]);
  for (let i = 0; i < 7; i++) {
    for (let j = 0; j < 6; j++) {
      for (let k = 0; k < 5; k++) {
        const x = j, y = 6 - i;
        if (y > 5) continue;
        assert.equal(r.data[(i * 7 + j) * 5 + k], v.data[(x * 6 + y) * 5 + k]);
      }
    }
  }
});

Deno.test("transform specs: deterministic transforms rebuild from { name, params }; random ones refuse", () => {
  for (
    const t of [
      selectChannel(1),
      orientation("LPS"),
      spacing([1.1, 1.2, 1.3]),
      centerSpatialCrop([3, 4, 5]),
      spatialPad([5, 5, 5]),
      centerCropOrPad([2, 2, 2]),
      scaleIntensityRangePercentiles({ lower: 1, upper: 99, bMin: -1, bMax: 1, clip: true }),
      castFloat16(),
    ]
  ) {
    const back = transformFromSpec(specOf(t));
    assert.equal(back.name, t.name);
    assert.deepEqual(back.params, t.params);
  }
  assert.throws(() => transformFromSpec(specOf(randSpatialCrop([2, 2, 2], 0))), /cannot be rebuilt/);
});
