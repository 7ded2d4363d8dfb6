/**
 * Entry-point plumbing shared by the commands: flags, `--help`, config and environment loading (validated
 * before any work), one clear error line and a non-zero exit on failure.
 */
import { type CommandSpec, type FlagSpecs, helpText, parseCliArgs, type ParsedArgs } from "./args.ts";
import {
  type EnvironmentConfig,
  loadEnvironment,
  loadTrainConfig,
  type TrainConfig,
} from "../recipe/config.ts";
import { type DistributedContext, distributedContext } from "../recipe/distributed.ts";
import { launchSelfIfNeeded } from "../recipe/launcher.ts";
import { INTERRUPTED_EXIT_CODE } from "../recipe/stop.ts";

/** Parsed flags plus the loaded config and environment. */
export interface CommandContext<F extends FlagSpecs> {
  args: ParsedArgs<F>;
  config: TrainConfig;
  env: EnvironmentConfig;
}

/** Prints a command's failure as one line, naming the command once. */
export function reportFailure(name: string, e: unknown): void {
  const err = e as Error;
  const message = err?.message ?? String(e);
  console.error(message.startsWith(`${name}: `) ? message : `${name}: ${message}`);
  if (Deno.env.get("LDM_DEBUG")) console.error(err?.stack);
}

/** Parses flags, prints help, runs `fn`; errors are printed as one line (command named once), exit 1. */
export async function runCli<F extends FlagSpecs>(
  spec: CommandSpec<F>,
  argv: readonly string[],
  fn: (args: ParsedArgs<F>) => Promise<void>,
): Promise<void> {
  try {
    const args = parseCliArgs(argv, spec);
    if (args.help) {
      console.log(helpText(spec).trimEnd());
      return;
    }
    // The backend choice travels as LDM_BACKEND, so init() and launched worker processes all see it.
    if (args.backend) Deno.env.set("LDM_BACKEND", args.backend);
    await fn(args);
  } catch (e) {
    reportFailure(spec.name, e);
    Deno.exit(1);
  }
}

/** {@link runCli} that also loads the config and environment files (validated before any work). */
export function runCommand<F extends FlagSpecs>(
  spec: CommandSpec<F>,
  argv: readonly string[],
  fn: (ctx: CommandContext<F>) => Promise<void>,
): Promise<void> {
  return runCli(spec, argv, async (args) => {
    const config = await loadTrainConfig(args.config, { onWarning: (m) => console.warn(`warning: ${m}`) });
    const env = await loadEnvironment(args.environment);
    await fn({ args, config, env });
  });
}

/** Splits "trunk.pt,heads.pt" into the perceptual weight files (or undefined when empty). */
export function perceptualFiles(value: string | undefined): { trunk: string; heads: string } | undefined {
  if (!value) return undefined;
  const [trunk, heads] = value.split(",");
  if (!trunk || !heads) {
    throw new Error(
      `--perceptual-weights expects "squeezenet1_1.pth,lpips_squeeze_v0.1.pth", got "${value}"`,
    );
  }
  return { trunk, heads };
}

/** Flags both training commands take besides the reference's. */
export const TRAINING_FLAGS = {
  epochs: {
    type: "string",
    description: "override the config's epoch count",
    valueName: "n",
    kind: "positive-integer",
  },
  seed: {
    type: "string",
    description: "random seed (the reference's set_determinism)",
    default: "42",
    valueName: "n",
    kind: "non-negative-integer",
  },
  dist: {
    type: "string",
    description: "gradient averaging for -g > 1",
    default: "shm",
    valueName: "transport",
    choices: ["shm", "mpi"],
  },
} as const satisfies FlagSpecs;

/** What a training command's body receives: the run's common settings and its process group. */
export interface TrainingRun {
  maxEpochs: number | undefined;
  seed: number;
  dist: DistributedContext;
}

/** A training command's full spec: its own flags plus {@link TRAINING_FLAGS}. */
export function trainingSpec<F extends FlagSpecs>(
  spec: CommandSpec<F>,
): CommandSpec<F & typeof TRAINING_FLAGS> {
  return { ...spec, flags: { ...TRAINING_FLAGS, ...spec.flags } } as CommandSpec<F & typeof TRAINING_FLAGS>;
}

/**
 * `runCommand` for training: with `-g N > 1` re-launches itself as N ranks, then sets up the process group
 * (gradient averaging, rank-0 logging) around `fn`.
 */
export function runTrainingCommand<F extends FlagSpecs>(
  spec: CommandSpec<F>,
  argv: readonly string[],
  fn: (ctx: CommandContext<F & typeof TRAINING_FLAGS>, run: TrainingRun) => Promise<void>,
): Promise<void> {
  return runCommand(trainingSpec(spec), argv, async (ctx) => {
    const flags = ctx.args.flags as Record<string, unknown>;
    const transport = flags.dist as "shm" | "mpi";
    await launchSelfIfNeeded(ctx.args.gpus, { dist: transport });
    const dist = await distributedContext(ctx.args.gpus, transport);
    try {
      await fn(ctx, {
        maxEpochs: flags.epochs ? Number(flags.epochs) : undefined,
        seed: Number(flags.seed),
        dist,
      });
    } finally {
      await dist.close();
    }
    // An interrupted run saved its checkpoint but did not finish: say so to the shell (and to the launcher).
    if (dist.stop.honoured) Deno.exitCode = INTERRUPTED_EXIT_CODE;
  });
}
