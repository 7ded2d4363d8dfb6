/** Reconstruction and regularisation losses: L1, MSE (mean reduction) and the reference's KL term. */
import { abs, add, affine, exp, log, mean, scope, square, sub, sum, type Tensor } from "../../tensor/mod.ts";

function checkSame(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.join() !== b.shape.join()) {
    throw new Error(`${op}: shapes differ, [${a.shape}] vs [${b.shape}]`);
  }
}

/** mean(|a − b|) (PyTorch L1Loss, reduction "mean"); a scalar [1]. */
export function l1Loss(a: Tensor, b: Tensor): Tensor {
  checkSame("l1Loss", a, b);
  return scope(() => mean(abs(sub(a, b) as Tensor)));
}

/** mean((a − b)²) (PyTorch MSELoss, reduction "mean"); a scalar [1]. */
export function mseLoss(a: Tensor, b: Tensor): Tensor {
  checkSame("mseLoss", a, b);
  return scope(() => mean(square(sub(a, b) as Tensor)));
}

/**
 * The reference's KL term (utils.KL_loss): per sample 0.5·Σ(μ² + σ² − ln σ² − 1) over every latent element,
 * then the mean over the batch. Reference behaviour: a per-sample SUM, not a mean over elements.
 * zMu, zSigma: [B, C, x, y, z] → scalar [1].
 */
export function klLoss(zMu: Tensor, zSigma: Tensor): Tensor {
  checkSame("klLoss", zMu, zSigma);
  return scope(() => {
    const sigma2 = square(zSigma);
    const terms = sub(add(square(zMu), sigma2), log(sigma2)) as Tensor;
    const axes = [...Array(zMu.rank).keys()].slice(1);
    const perSample = affine(sum(affine(terms, 1, -1), axes), 0.5);
    return mean(perSample);
  });
}

/** KL from μ and the clamped log-variance (same value as `klLoss(μ, exp(logvar/2))`). */
export function klLossFromLogVar(zMu: Tensor, zLogVar: Tensor): Tensor {
  return scope(() => klLoss(zMu, exp(affine(zLogVar, 0.5))));
}
