import assert from "node:assert/strict";
import { autoencoderLatentShape } from "../../../nn/train/diffusion_step.ts";

const ae = { config: { channels: [8, 16, 16], latentChannels: 3 } };

Deno.test("autoencoderLatentShape: divides by 2^(levels-1); indivisible sizes name the shape and the factor", () => {
  assert.deepEqual(autoencoderLatentShape(ae, [2, 1, 32, 16, 8]), [2, 3, 8, 4, 2]);
  assert.throws(
    () => autoencoderLatentShape(ae, [2, 1, 32, 18, 8]),
    /image batch \[2,1,32,18,8\] has spatial sizes not divisible by the autoencoder's downsampling factor 4/,
  );
});
