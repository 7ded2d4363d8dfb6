/** `deno task demo`: flag parsing; the work is `recipe/demo.ts`. */
import type { CommandSpec } from "./args.ts";
import { runDemo } from "../recipe/demo.ts";
import { DEMO_LONG_BUDGET } from "../recipe/demo_report.ts";
import { DEMO_MANIFEST } from "../recipe/demo_output.ts";

/** The `demo` command line. */
export const DEMO_COMMAND = {
  name: "demo",
  description:
    "Runs the whole pipeline offline on synthetic phantoms (autoencoder, diffusion, generation) and writes a report.",
  common: ["help", "backend"],
  flags: {
    output: {
      type: "string",
      description:
        `output folder; it must be new, empty, or a previous demo output (marked by ${DEMO_MANIFEST}), ` +
        "of which only the demo's own files are replaced; the working directory is always refused",
      default: "runs/demo",
      valueName: "dir",
    },
    force: {
      type: "boolean",
      description:
        "use a non-empty --output folder that is not a previous demo output; nothing in it is deleted",
    },
    "autoencoder-epochs": {
      type: "string",
      description: "autoencoder epochs (when not given: the demo config's)",
      valueName: "n",
      kind: "positive-integer",
    },
    "diffusion-epochs": {
      type: "string",
      description: "diffusion epochs (when not given: the demo config's)",
      valueName: "n",
      kind: "positive-integer",
    },
    samples: {
      type: "string",
      description: "volumes to generate (and untrained-floor samples); the verdict needs at least 16",
      default: "16",
      valueName: "n",
      kind: "positive-integer",
    },
    long: {
      type: "boolean",
      description:
        `the larger budget (${DEMO_LONG_BUDGET.autoencoderEpochs} autoencoder / ${DEMO_LONG_BUDGET.diffusionEpochs} diffusion epochs) for more time or a GPU`,
    },
    strict: {
      type: "boolean",
      description:
        "exit with code 2 unless the report's verdict is 'ok' (refuses budgets below the documented one)",
    },
  },
} as const satisfies CommandSpec;

if (import.meta.main) {
  const { runCli } = await import("./command.ts");
  await runCli(DEMO_COMMAND, Deno.args, async ({ flags }) => {
    const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
    const r = await runDemo({
      output: flags.output,
      force: flags.force,
      autoencoderEpochs: num(flags["autoencoder-epochs"]),
      diffusionEpochs: num(flags["diffusion-epochs"]),
      samples: num(flags.samples),
      long: flags.long,
      strict: flags.strict,
    });
    console.log(`demo finished: ${r.verdict}; everything is in ${r.output}`);
    if (flags.strict && r.verdict !== "ok") Deno.exit(2);
  });
}
