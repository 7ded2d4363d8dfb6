/** Learning-rate schedules. */
import type { Optimizer } from "./optimizer.ts";

/**
 * torch.optim.lr_scheduler.MultiStepLR: lr = initial · γ^(number of milestones ≤ lastEpoch). Like PyTorch,
 * construction counts as the first `step()` (lastEpoch 0); the reference calls `step()` at the start of every
 * epoch, so with milestones [100, 1000] epochs 0–98 run at lr, 99–998 at 0.1·lr.
 */
export class MultiStepLR {
  lastEpoch: number;
  readonly milestones: number[];
  constructor(readonly optimizer: Optimizer, milestones: number[], readonly gamma = 0.1, lastEpoch = -1) {
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.lastEpoch = lastEpoch;
    this.step();
  }
  /** Advances one epoch and sets the optimizer's lr. */
  step(): void {
    this.lastEpoch++;
    this.optimizer.lr = this.lrAt(this.lastEpoch);
  }
  /** The lr at a given `lastEpoch` value. */
  lrAt(epoch: number): number {
    const passed = this.milestones.filter((m) => m <= epoch).length;
    return this.optimizer.initialLr * this.gamma ** passed;
  }
  /** The current lr. */
  getLastLr(): number {
    return this.optimizer.lr;
  }
  /** Saves the position (JSON). */
  stateDict(): { lastEpoch: number; milestones: number[]; gamma: number } {
    return { lastEpoch: this.lastEpoch, milestones: this.milestones, gamma: this.gamma };
  }
  /** Restores a saved position and sets the optimizer's lr accordingly. */
  loadStateDict(s: { lastEpoch: number }): void {
    this.lastEpoch = s.lastEpoch;
    this.optimizer.lr = this.lrAt(this.lastEpoch);
  }
}
