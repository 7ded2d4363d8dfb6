/** Reorientation to axis codes (MONAI Orientationd): flips and a permutation chosen from the affine. */
import { axcodesToOrnt, ioOrientation, matmul, type Ornt, orntTransform } from "../affine.ts";
import { spacingOf, type Volume } from "../volume.ts";
import type { Transform } from "./transform.ts";

/**
 * Reorients `[C, X, Y, Z]` so that the array axes point along `codes` (default "RAS"). Pure index shuffle: output
 * axis `ornt[i][0]` is input axis i, flipped when `ornt[i][1] = -1`; the affine is updated so every voxel keeps
 * its world position.
 */
export function orientation(codes = "RAS"): Transform {
  const target = axcodesToOrnt(codes);
  return {
    name: "orientation",
    params: { axcodes: codes.toUpperCase() },
    random: false,
    apply(v: Volume): Volume {
      return applyOrnt(v, orntTransform(ioOrientation(v.affine), target));
    },
  };
}

/** Applies orientation rows `ornt` (input axis i → output axis ornt[i][0], flipped if -1) to a volume. */
export function applyOrnt(v: Volume, ornt: Ornt): Volume {
  const [nc, ...inShape] = v.shape;
  const outShape = [0, 0, 0];
  for (let i = 0; i < 3; i++) outShape[ornt[i][0]] = inShape[i];
  // Input index along axis i as a function of the output index along ornt[i][0].
  const m = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]];
  for (let i = 0; i < 3; i++) {
    const [o, flip] = ornt[i];
    m[i][o] = flip;
    m[i][3] = flip < 0 ? inShape[i] - 1 : 0;
  }
  const affine = matmul(v.affine, m);
  const identity = ornt.every(([o, f], i) => o === i && f === 1);
  if (identity) return { data: v.data.slice(), shape: [...v.shape], affine, spacing: spacingOf(affine) };
  const [ox, oy, oz] = outShape;
  const inStrides = [inShape[1] * inShape[2], inShape[2], 1];
  // For each output axis: the stride in the input and the start offset (flips start at the far end).
  const stride = [0, 0, 0];
  let base = 0;
  for (let i = 0; i < 3; i++) {
    const [o, flip] = ornt[i];
    stride[o] = flip * inStrides[i];
    if (flip < 0) base += (inShape[i] - 1) * inStrides[i];
  }
  const n = ox * oy * oz;
  const out = new Float32Array(nc * n);
  let d = 0;
  for (let c = 0; c < nc; c++) {
    const cb = c * n + base;
    for (let x = 0; x < ox; x++) {
      for (let y = 0; y < oy; y++) {
        let s = cb + x * stride[0] + y * stride[1];
        for (let z = 0; z < oz; z++, s += stride[2]) out[d++] = v.data[s];
      }
    }
  }
  return { data: out, shape: [nc, ox, oy, oz], affine, spacing: spacingOf(affine) };
}
