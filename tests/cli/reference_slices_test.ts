import { assertEquals } from "./_assert.ts";
import { referenceSlice } from "../../recipe/reference_slices.ts";

/** A [2, 3, 4] volume with value 100·x + 10·y + z (scaled below). */
function volume(scale: number, offset = 0): Float32Array {
  const d = new Float32Array(2 * 3 * 4);
  for (let x = 0; x < 2; x++) {
    for (let y = 0; y < 3; y++) {
      for (let z = 0; z < 4; z++) d[x * 12 + y * 4 + z] = (100 * x + 10 * y + z) * scale + offset;
    }
  }
  return d;
}

Deno.test("reference slices: centre index, transposed display, the reference's 8-bit conversion", () => {
  // Values ≤ 1 and ≥ 0 are kept as they are: ×255, truncated.
  const v = volume(0.004);
  // Axis 0: slice x = 1 (shape [Y, Z] = [3, 4]), displayed transposed: height Z = 4, width Y = 3.
  const a0 = referenceSlice(v, [2, 3, 4], 0);
  assertEquals([a0.width, a0.height], [3, 4]);
  for (let y = 0; y < 3; y++) {
    for (let z = 0; z < 4; z++) {
      assertEquals(
        a0.pixels[z * 3 + y],
        Math.trunc(255 * Math.fround((100 + 10 * y + z) * 0.004)),
        `y${y} z${z}`,
      );
    }
  }
  // Axis 1: y = 1, [X, Z] → height Z, width X. Axis 2: z = 2, [X, Y] → height Y, width X.
  const a1 = referenceSlice(v, [2, 3, 4], 1);
  assertEquals([a1.width, a1.height], [2, 4]);
  assertEquals(a1.pixels[3 * 2 + 1], Math.trunc(255 * Math.fround((100 + 10 + 3) * 0.004)));
  const a2 = referenceSlice(v, [2, 3, 4], 2);
  assertEquals([a2.width, a2.height], [2, 3]);
  assertEquals(a2.pixels[2 * 2 + 0], Math.trunc(255 * Math.fround((20 + 2) * 0.004)));
  // A maximum above 1 divides by the maximum; a negative minimum is shifted to 0 first.
  const big = referenceSlice(volume(1, -5), [2, 3, 4], 2);
  // Slice z = 2 values: 100x + 10y + 2 − 5, min −3 → shifted to 0..., max 100 + 20 + 2 − 5 + 3 = 120.
  assertEquals(big.pixels[0], 0);
  assertEquals(big.pixels[2 * 2 + 1], 255);
  assertEquals(big.pixels[1 * 2 + 0], Math.trunc((255 * 10) / 120));
});
