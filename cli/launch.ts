/** `deno task launch`: flag parsing; the launcher is `recipe/launcher.ts`. */
import { parseArgs } from "node:util";
import { launch } from "../recipe/launcher.ts";

const USAGE =
  `usage: deno run -A cli/launch.ts -g N [--dist shm|mpi] [--kill-grace-ms MS] script.ts [script args…]

Starts N processes of script.ts (one per GPU) with RANK, LOCAL_RANK, WORLD_SIZE and MASTER set.`;

/** Splits the launcher's own flags from the script and its arguments (everything from the first positional). */
export function splitLauncherArgs(
  argv: readonly string[],
): { own: string[]; script: string | null; rest: string[] } {
  const withValue = new Set(["-g", "--gpus", "--dist", "--kill-grace-ms"]);
  let i = 0;
  while (i < argv.length) {
    const a = argv[i];
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-")) break;
    i += withValue.has(a) ? 2 : 1;
  }
  return {
    own: argv.slice(0, Math.min(i, argv.length)).filter((a) => a !== "--"),
    script: argv[i] ?? null,
    rest: argv.slice(i + 1),
  };
}

if (import.meta.main) {
  const { own, script, rest } = splitLauncherArgs(Deno.args);
  const { values } = parseArgs({
    args: own,
    options: {
      gpus: { type: "string", short: "g", default: "1" },
      dist: { type: "string", default: "shm" },
      "kill-grace-ms": { type: "string", default: "5000" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help || !script) {
    console.log(USAGE);
    Deno.exit(values.help ? 0 : 2);
  }
  const worldSize = Number(values.gpus);
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    console.error(`launch: -g ${values.gpus} must be a positive integer\n${USAGE}`);
    Deno.exit(2);
  }
  if (values.dist !== "shm" && values.dist !== "mpi") {
    console.error(`launch: --dist ${values.dist} must be shm or mpi`);
    Deno.exit(2);
  }
  const result = await launch({
    worldSize,
    script,
    args: rest,
    dist: values.dist,
    killGraceMs: Number(values["kill-grace-ms"]),
    forwardSignals: true,
  });
  if (result.error) console.error(`[launch] job failed: ${result.error}`);
  Deno.exit(result.code);
}
