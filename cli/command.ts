/**
 * Entry-point plumbing shared by the commands: flags, `--help`, config and environment loading (validated
 * before any work), one clear error line and a non-zero exit on failure.
 */
import { type CommandSpec, type FlagSpecs, helpText, parseCliArgs, type ParsedArgs } from "./args.ts";
import { type EnvironmentConfig, loadEnvironment, loadTrainConfig, type TrainConfig } from "./config.ts";

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
    throw new Error(`--perceptual-weights expects "squeezenet1_1.pth,lpips_squeeze_v0.1.pth", got "${value}"`);
  }
  return { trunk, heads };
}
