/**
 * What a resumed run takes from its checkpoint instead of the config, said out loud: a changed learning rate
 * is otherwise silently ignored (it lives in the optimizer state) or silently rescheduled.
 */
import { formatValue } from "./progress.ts";

/** The learning-rate facts of one optimizer at resume. */
export interface ResumedLr {
  /** Optimizer role ("generator", "unet"). */
  role: string;
  /** Config key of the lr ("autoencoder_train.lr"). */
  configKey: string;
  /** The config's lr (per GPU). */
  configLr: number;
  /** The reference's linear scaling: lr × number of GPUs. */
  worldSize: number;
  /** The lr stored in the checkpoint's optimizer state. */
  checkpointLr: number;
  /** The lr the resumed run will use. */
  usedLr: number;
  /** When a schedule sets the lr: its restored position and the factor it applies to the configured lr. */
  schedule?: { name: string; lastEpoch: number; factor: number };
}

/** Lines for the log (empty when the checkpoint overrides nothing and no schedule has moved the lr). */
export function describeResumedLr(r: ResumedLr): string[] {
  const f = formatValue;
  const configured = r.configLr * r.worldSize;
  const cfg = `${r.configKey} ${f(r.configLr)}${
    r.worldSize > 1 ? ` × ${r.worldSize} GPUs = ${f(configured)}` : ""
  }`;
  const lines: string[] = [];
  if (!r.schedule) {
    if (r.usedLr !== configured) {
      lines.push(
        `resume: ${r.role} lr ${
          f(r.usedLr)
        } comes from the checkpoint's optimizer state and overrides the config's ${cfg}`,
      );
    }
    return lines;
  }
  if (r.schedule.factor !== 1) {
    lines.push(
      `resume: ${r.role} lr ${f(r.usedLr)} = ${cfg} × ${
        f(r.schedule.factor)
      } (${r.schedule.name} position, epoch ${r.schedule.lastEpoch}, restored from the checkpoint)`,
    );
  }
  if (r.checkpointLr !== r.usedLr) {
    lines.push(
      `resume: ${r.role} lr changed since the checkpoint (it ran at ${f(r.checkpointLr)}); continuing at ${
        f(r.usedLr)
      } from the config's ${cfg}`,
    );
  }
  return lines;
}
