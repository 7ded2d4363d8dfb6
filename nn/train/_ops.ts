/** Tensor helpers shared by the training steps. */
import type { Tensor } from "../../tensor/mod.ts";
export { add, affine, noGrad, scope } from "../../tensor/mod.ts";
export type { Tensor } from "../../tensor/mod.ts";

/** A new handle on the same values without autograd history (torch `.detach()`). */
export function detach(t: Tensor): Tensor {
  return t.detach();
}
