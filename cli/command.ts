/**
 * Entry-point plumbing shared by the commands: flags, `--help`, config and environment loading (validated
 * before any work), one clear error line and a non-zero exit on failure.
 */
import { type CommandSpec, type FlagSpecs, helpText, parseCliArgs, type ParsedArgs } from "./args.ts";
import { type EnvironmentConfig, loadEnvironment, loadTrainConfig, type TrainConfig } from "./config.ts";
import { type DistributedContext, distributedContext } from "./distributed.ts";
import { launchSelfIfNeeded } from "./launch.ts";

/** Parsed flags plus the loaded config and environment. */
export interface CommandContext<F extends FlagSpecs> {
  args: ParsedArgs<F>;
  config: TrainConfig;
  env: EnvironmentConfig;
}

/** Parses flags, prints help, loads the config files, runs `fn`; prints errors as one line and exits 1. */
export async function runCommand<F extends FlagSpecs>(
  spec: CommandSpec<F>,
  argv: readonly string[],
  fn: (ctx: CommandContext<F>) => Promise<void>,
): Promise<void> {
  try {
    const args = parseCliArgs(argv, spec);
    if (args.help) {
      console.log(helpText(spec));
      return;
    }
    // The backend choice travels as LDM_BACKEND, so init() and launched worker processes all see it.
    if (args.backend) Deno.env.set("LDM_BACKEND", args.backend);
    const config = await loadTrainConfig(args.config, { onWarning: (m) => console.warn(`warning: ${m}`) });
    const env = await loadEnvironment(args.environment);
    await fn({ args, config, env });
  } catch (e) {
    const err = e as Error;
    console.error(`${spec.name}: ${err.message}`);
    if (Deno.env.get("LDM_DEBUG")) console.error(err.stack);
    Deno.exit(1);
  }
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
  epochs: { type: "string", description: "override the config's epoch count", valueName: "n" },
  seed: {
    type: "string",
    description: "random seed (default 42, as the reference's set_determinism)",
    default: "42",
  },
  dist: {
    type: "string",
    description: "gradient averaging for -g > 1: shm (default) or mpi",
    default: "shm",
  },
} as const satisfies FlagSpecs;

/** What a training command's body receives: the run's common settings and its process group. */
export interface TrainingRun {
  maxEpochs: number | undefined;
  seed: number;
  dist: DistributedContext;
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
  const full = { ...spec, flags: { ...TRAINING_FLAGS, ...spec.flags } } as CommandSpec<
    F & typeof TRAINING_FLAGS
  >;
  return runCommand(full, argv, async (ctx) => {
    const flags = ctx.args.flags as Record<string, unknown>;
    const transport = flags.dist as string;
    if (transport !== "shm" && transport !== "mpi") {
      throw new Error(`--dist must be shm or mpi, got "${transport}"`);
    }
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
  });
}
