// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/** Shared helpers of the diffusion tests. */
import { DDIMScheduler, DDPMScheduler, type Scheduler } from "../../diffusion/mod.ts";

/**
 * Builds the scheduler a fixture entry describes (`config.sequences[seq]` of the scheduler cases, or
 * `config.schedulers.{train,sample}` of ldm_inferer_tiny), calling setTimesteps when it names N.
 */
export function schedulerFromEntry(e: any): Scheduler {
  const common = {
    numTrainTimesteps: e.num_train_timesteps,
    schedule: e.schedule,
    betaStart: e.beta_start,
    betaEnd: e.beta_end,
    predictionType: e.prediction_type,
    clipSample: e.clip_sample,
    clipSampleMin: e.clip_sample_min,
    clipSampleMax: e.clip_sample_max,
  };
  let s: Scheduler;
  if (e.scheduler === "DDPMScheduler") s = new DDPMScheduler({ ...common, varianceType: e.variance_type });
  else if (e.scheduler === "DDIMScheduler") {
    s = new DDIMScheduler({
      ...common,
      setAlphaToOne: e.set_alpha_to_one,
      stepsOffset: e.steps_offset,
      eta: e.eta,
    });
  } else throw new Error(`fixture names an unknown scheduler '${e.scheduler}'`);
  if (e.num_inference_steps !== null && e.num_inference_steps !== undefined) {
    s.setTimesteps(e.num_inference_steps);
  }
  return s;
}
