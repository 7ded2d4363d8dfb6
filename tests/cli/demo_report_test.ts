/** The demo's report text, comparison PNG and budget checks. */
import assert from "node:assert/strict";
import { comparisonPng, type DemoReport, reportText, resolveDemoBudget } from "../../recipe/demo_report.ts";

const CONFIG = { autoencoderEpochs: 14, diffusionEpochs: 40 };
const LONG = { autoencoderEpochs: 30, diffusionEpochs: 300 };

Deno.test("resolveDemoBudget: defaults, --long, explicit counts; nonsense refused naming the flag", () => {
  assert.deepEqual(resolveDemoBudget({}, CONFIG, LONG), { ...CONFIG, samples: 16 });
  assert.deepEqual(resolveDemoBudget({ long: true }, CONFIG, LONG), { ...LONG, samples: 16 });
  assert.deepEqual(resolveDemoBudget({ diffusionEpochs: 2, samples: 4 }, CONFIG, LONG), {
    autoencoderEpochs: 14,
    diffusionEpochs: 2,
    samples: 4,
  });
  assert.deepEqual(
    resolveDemoBudget({ long: true, diffusionEpochs: 500 }, CONFIG, LONG).diffusionEpochs,
    500,
  );
  const bad: [Parameters<typeof resolveDemoBudget>[0], RegExp][] = [
    [{ diffusionEpochs: 0 }, /--diffusion-epochs must be a positive integer, got 0/],
    [{ autoencoderEpochs: 2.5 }, /--autoencoder-epochs must be a positive integer, got 2.5/],
    [{ diffusionEpochs: NaN }, /--diffusion-epochs must be a positive integer, got NaN/],
    [{ long: true, diffusionEpochs: 40 }, /--diffusion-epochs 40 is below the --long budget of 300 epochs/],
    [
      { strict: true, diffusionEpochs: 1 },
      /--diffusion-epochs 1 is below the default budget of 40 epochs.*--strict/,
    ],
    [{ strict: true, samples: 8 }, /--strict needs at least 16 samples/],
    [{ samples: 1 }, /--samples must be an integer ≥ 2, got 1/],
  ];
  for (const [req, re] of bad) {
    assert.throws(() => resolveDemoBudget(req, CONFIG, LONG), re, JSON.stringify(req));
  }
});

function report(gapClosed: number | null): DemoReport {
  return {
    output: "/tmp/x",
    heldOut: 24,
    ceilingSet: 16,
    samples: 16,
    reconstruction: { l1: 0.1, psnr: 18, ssim: 0.5, meanVolumeL1: 0.09 },
    diversity: { generatedMsSsim: 0.3, heldOutMsSsim: 0.3 },
    verdict: gapClosed === null ? "undefined" : "ok",
    assessment: {
      verdict: gapClosed === null ? "undefined" : "ok",
      reason: gapClosed === null ? "the ceiling is not below the floor" : "fine",
      frechet: { ceiling: 0.09, generated: 0.1, floor: 0.2 },
      endToEnd: { ceiling: 0.1, generated: 0.12, floor: 0.13 },
      gapClosed,
      interval: gapClosed === null ? null : [0.3, 0.8],
      resamples: gapClosed === null ? 0 : 500,
      level: 0.95,
    },
    weights: "ema",
    validation: { loss: 0.1, buckets: [{ from: 0, to: 100, mse: 0.5, count: 3 }] },
    perceptual: "off",
  };
}

Deno.test("reportText: gap with its interval; 'undefined' with the reason instead of a nonsense percentage", () => {
  const ok = reportText(report(0.55));
  assert.match(
    ok,
    /close 55 % of the floor-to-ceiling gap \(95 % bootstrap interval 30 % … 80 %, 500 resamples/,
  );
  assert.match(ok, /by timestep t∈\[0,100\) 0\.5000/);
  assert.match(ok, /EMA weights/);
  assert.match(
    ok,
    /to reconstructions of the held-out phantoms: ceiling\/reconstructions of 16 other phantoms 0\.0900/,
  );
  assert.match(ok, /held-out mean volume, one blob for all: L1 0\.0900/);
  assert.match(ok, /end to end, .*reconstructions 0\.1000, generated 0\.1200, floor 0\.1300/);
  const undef = reportText(report(null));
  assert.match(undef, /gap closed: UNDEFINED — the ceiling is not below the floor/);
  assert.doesNotMatch(undef, /NaN|Infinity|-?\d{6,} %/);
});

Deno.test("comparisonPng: rows of real | generated | floor", () => {
  const v = (x: number) => new Float32Array(4 * 4 * 4).fill(x);
  const png = comparisonPng({ real: [v(1), v(1)], generated: [v(0.5), v(0.5)], floor: [v(0), v(0)] }, [
    4,
    4,
    4,
  ]);
  assert.deepEqual([...png.subarray(1, 4)], [80, 78, 71]); // "PNG"
  assert.throws(
    () => comparisonPng({ real: [], generated: [v(0)], floor: [v(0)] }, [4, 4, 4]),
    /at least one volume/,
  );
});
