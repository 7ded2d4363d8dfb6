/**
 * Child process of hostile_input_test.ts (run with `deno run`): sends hostile files through the reader and the
 * reference chain and prints one JSON object with each outcome and the process' peak RSS. A separate process so
 * the parent can measure and bound its memory.
 * Argument: JSON `{ files: string[], patch: [x, y, z], cap?: number, fuzz?: { seed, trials, cap } }`.
 */
import {
  applySteps,
  loadAndPreprocess,
  MT19937,
  NiftiError,
  parseNifti,
  referenceTransforms,
  type Transform,
  type Volume,
} from "../../data/mod.ts";
import { fuzzedNifti } from "./hostile_nifti.ts";

/** What happened to one input. */
export interface Outcome {
  /** File name (or fuzz case name). */
  name: string;
  /** What the fuzzer changed (fuzz cases). */
  what?: string;
  /** Output shape when it loaded. */
  shape?: number[];
  /** True when every output value is finite. */
  finite?: boolean;
  /** Error message when it failed. */
  error?: string;
  /** True when the error was our NiftiError. */
  niftiError?: boolean;
  /** Wall time of this input in ms. */
  ms: number;
  /** RSS right after this input, MiB. */
  rssMiB: number;
}

/** Peak resident set size of this process in MiB (Linux), else the current RSS. */
export function peakRssMiB(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
    if (m) return Number(m[1]) / 1024;
  } catch { /* not Linux */ }
  return Deno.memoryUsage().rss / 2 ** 20;
}

function chain(patch: [number, number, number], cap?: number): Transform[] {
  return referenceTransforms({
    stage: "diffusion",
    train: false,
    channel: 0,
    spacing: [1.1, 1.1, 1.1],
    patchSize: patch,
    autoencoderLevels: 3,
    maxResampledVoxels: cap,
  });
}

async function outcome(name: string, run: () => Promise<Volume> | Volume, what?: string): Promise<Outcome> {
  const t0 = performance.now();
  const o: Outcome = { name, ms: 0, rssMiB: 0, ...(what ? { what } : {}) };
  try {
    const v = await run();
    o.shape = v.shape;
    o.finite = v.data.every(Number.isFinite);
  } catch (e) {
    o.error = (e as Error).message;
    o.niftiError = e instanceof NiftiError;
  }
  o.ms = performance.now() - t0;
  o.rssMiB = Deno.memoryUsage().rss / 2 ** 20;
  return o;
}

if (import.meta.main) {
  const req = JSON.parse(Deno.args[0]);
  const files: Outcome[] = [];
  const steps = chain(req.patch, req.cap);
  for (const f of req.files as string[]) files.push(await outcome(f, () => loadAndPreprocess(f, steps)));
  const fuzz: Outcome[] = [];
  if (req.fuzz) {
    const rng = new MT19937(req.fuzz.seed);
    const fuzzSteps = chain(req.patch, req.fuzz.cap);
    for (let t = 0; t < req.fuzz.trials; t++) {
      const c = fuzzedNifti(rng, t);
      fuzz.push(
        await outcome(
          c.name,
          () => applySteps(c.name, fuzzSteps, parseNifti(c.bytes, c.name).volume),
          c.what,
        ),
      );
    }
  }
  console.log(JSON.stringify({ files, fuzz, peakRssMiB: peakRssMiB() }));
}
