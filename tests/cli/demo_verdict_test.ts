/** The demo's verdict arithmetic on synthetic feature sets with known answers. */
import assert from "node:assert/strict";
import { demoVerdict, gapClosed } from "../../recipe/demo_verdict.ts";

/** n feature rows (16 features) ~ N(shift, scale²), from a small deterministic generator. */
function gaussianRows(n: number, seed: number, shift = 0, scale = 1): Float64Array[] {
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return Array.from(
    { length: n },
    () =>
      Float64Array.from(
        { length: 16 },
        () => shift + scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()),
      ),
  );
}

Deno.test("gapClosed: the fraction of the floor-to-ceiling gap; undefined with a reason when there is no gap", () => {
  const g = gapClosed({ ceiling: 1, generated: 3, floor: 5 });
  assert.ok("value" in g && Math.abs(g.value - 0.5) < 1e-12);
  const worse = gapClosed({ ceiling: 1, generated: 7, floor: 5 });
  assert.ok("value" in worse && worse.value < 0);
  // The previous report's failure: floor and ceiling (almost) equal printed "−280839648522 % of the gap".
  for (
    const fd of [{ ceiling: 0.121, generated: 0.123, floor: 0.121 }, {
      ceiling: 0.2,
      generated: 0.1,
      floor: 0.1,
    }]
  ) {
    const u = gapClosed(fd);
    assert.ok("reason" in u && /is not below the floor/.test(u.reason), JSON.stringify(u));
  }
  const nan = gapClosed({ ceiling: 1, generated: NaN, floor: 5 });
  assert.ok("reason" in nan && /not finite/.test(nan.reason));
});

Deno.test("demoVerdict: good samples → ok with its interval; floor-like samples → training failed", () => {
  const real = gaussianRows(24, 7), reference = gaussianRows(24, 1);
  const ceiling = gaussianRows(16, 2);
  const floor = gaussianRows(16, 3, 2, 2);
  const good = demoVerdict({ real, reference, ceiling, generated: gaussianRows(16, 4), floor }, { seed: 1 });
  assert.equal(good.verdict, "ok", good.reason);
  assert.ok(good.gapClosed! > 0.6, `${good.gapClosed}`);
  // Percentile bootstrap: resampled sets hold duplicates, which inflate every FD a little, so the interval may
  // sit slightly below the point (conservative for the lower bound the verdict uses).
  assert.ok(
    good.interval![0] <= good.gapClosed! && good.interval![0] < good.interval![1],
    JSON.stringify(good),
  );
  assert.ok(good.interval![0] >= 0.25);
  assert.equal(good.resamples, 500);
  // Deterministic: the same call gives the same interval.
  assert.deepEqual(
    demoVerdict({ real, reference, ceiling, generated: gaussianRows(16, 4), floor }, { seed: 1 }),
    good,
  );

  const bad = demoVerdict({ real, reference, ceiling, generated: gaussianRows(16, 5, 2, 2), floor }, {
    seed: 1,
  });
  assert.equal(bad.verdict, "training failed");
  assert.ok(Math.abs(bad.gapClosed!) < 0.5, `${bad.gapClosed}`);
  assert.match(bad.reason, /lower bound .* is below the 25 % needed/);

  // A ceiling as far off as the floor: no gap, no verdict.
  // Reconstructions nearer the real volumes than the floor (the autoencoder check passes), but the reference
  // set resembles the floor more than the ceiling: no gap, no verdict.
  const none = demoVerdict({
    real: gaussianRows(24, 7, 1, 1),
    reference: gaussianRows(24, 10, 2, 2),
    ceiling: gaussianRows(16, 9, 1, 1),
    generated: ceiling,
    floor,
  }, { seed: 1 });
  assert.equal(none.verdict, "undefined");
  assert.equal(none.gapClosed, null);
  assert.match(none.reason, /no gap to close/);

  // An untrained autoencoder: its output space makes the gap look closed, but end to end its reconstructions
  // are no nearer the real volumes than the floor is — undefined, not ok.
  const collapsed = demoVerdict({
    real: gaussianRows(24, 8, 4, 1),
    reference,
    ceiling,
    generated: gaussianRows(16, 4),
    floor,
  }, { seed: 1 });
  assert.equal(collapsed.verdict, "undefined");
  assert.match(
    collapsed.reason,
    /reconstructions are no closer to the held-out volumes .* train the autoencoder longer/,
  );
  assert.ok(collapsed.endToEnd.ceiling >= collapsed.endToEnd.floor, JSON.stringify(collapsed.endToEnd));
});

Deno.test("demoVerdict: bad input is named", () => {
  const a = gaussianRows(4, 1);
  assert.throws(
    () => demoVerdict({ real: a, reference: a, ceiling: a, generated: a.slice(0, 1), floor: a }),
    /generated set needs at least 2 volumes, got 1/,
  );
  assert.throws(
    () => demoVerdict({ real: a, reference: a, ceiling: [], generated: a, floor: a }),
    /ceiling set needs at least 2 volumes, got 0/,
  );
});
