import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import {
  ArgsError,
  type CommandSpec,
  COMMON_FLAGS,
  editDistance,
  helpText,
  parseCliArgs,
  suggestFlag,
  wrapText,
} from "../../cli/args.ts";
import { TRAINING_FLAGS, trainingSpec } from "../../cli/command.ts";
import { GENERATE_COMMAND } from "../../cli/generate.ts";
import { TRAIN_AUTOENCODER_COMMAND } from "../../cli/train_autoencoder.ts";
import { TRAIN_DIFFUSION_COMMAND } from "../../cli/train_diffusion.ts";
import { DEMO_COMMAND } from "../../cli/demo.ts";

const train = { name: "train_autoencoder", description: "Trains the autoencoder (VAE-GAN)." };
const generate = {
  name: "generate",
  description: "Samples synthetic volumes.",
  common: ["config", "environment", "gpus"] as const,
  flags: {
    num: { type: "string", description: "how many volumes", default: "1", valueName: "n" },
    output_dir: { type: "string", short: "o", description: "where .nii files go" },
    ddim: { type: "boolean", description: "use DDIM" },
  },
} as const;

Deno.test("args: defaults are the reference's", () => {
  const a = parseCliArgs([], train);
  assertEquals(a.config, "./config/config_train_32g.json");
  assertEquals(a.environment, "./config/environment.json");
  assertEquals([a.gpus, a.downloadData, a.help], [1, false, false]);
  assertEquals(a.config, COMMON_FLAGS.config.default);
});

Deno.test("args: short, long, = forms, reference aliases, and --download_data", () => {
  const a = parseCliArgs(["-c", "c.yaml", "--environment=env.json", "-g", "4", "--download_data"], train);
  assertEquals([a.config, a.environment, a.gpus, a.downloadData], ["c.yaml", "env.json", 4, true]);
  const b = parseCliArgs(
    ["--config-file", "x.json", "--environment-file=e.json", "-g8", "--download-data"],
    train,
  );
  assertEquals([b.config, b.environment, b.gpus, b.downloadData], ["x.json", "e.json", 8, true]);
  assertEquals(parseCliArgs(["-h"], train).help, true);
});

Deno.test("args: per-command flags are typed and defaulted", () => {
  const a = parseCliArgs(["--num", "3", "-o", "out", "--ddim"], generate);
  assertEquals(a.flags, { num: "3", output_dir: "out", ddim: true });
  const num: string = a.flags.num; // typed as string (has a default)
  const out: string | undefined = a.flags.output_dir;
  const ddim: boolean = a.flags.ddim;
  assertEquals([num, out, ddim], ["3", "out", true]);
  assertEquals(parseCliArgs([], generate).flags, { num: "1", output_dir: undefined, ddim: false });
});

Deno.test("args: unknown flags and bad values are clear errors listing the valid flags", () => {
  const e = assertThrows(() => parseCliArgs(["--confg", "x"], train)) as Error;
  assert(e instanceof ArgsError);
  assertEquals(
    e.message,
    'train_autoencoder: unknown flag "--confg" (did you mean --config?); valid flags: -c/--config, -e/--environment, -g/--gpus, --download_data, -h/--help, --backend (see --help)',
  );
  assertThrows(() => parseCliArgs(["-x"], train), /unknown flag "-x"; valid flags: -c\/--config/);
  // generate does not take --download_data.
  assertThrows(
    () => parseCliArgs(["--download_data"], generate),
    /unknown flag "--download_data"; valid flags: .*--num, -o\/--output_dir, --ddim/,
  );
  assertThrows(
    () => parseCliArgs(["-g", "two"], train),
    /-g\/--gpus: expected a positive integer, got "two"/,
  );
  assertThrows(() => parseCliArgs(["-g", "0"], train), /positive integer/);
  assertThrows(
    () => parseCliArgs(["--config"], train),
    /^train_autoencoder: -c\/--config needs a value <file>$/,
  );
  assertThrows(
    () => parseCliArgs(["-e"], train),
    /^train_autoencoder: -e\/--environment needs a value <file>$/,
  );
  assertThrows(
    () => parseCliArgs(["--download_data=yes"], train),
    /^train_autoencoder: --download_data is a switch and takes no value \(got "--download_data=yes"\)$/,
  );
  assertThrows(() => parseCliArgs(["stray"], train), /unexpected argument "stray"/);
  // A value that looks like a flag is taken as the value of a string flag.
  assertEquals(parseCliArgs(["-c", "-odd-name.json"], train).config, "-odd-name.json");
});

Deno.test("args: help text lists every flag with its default", () => {
  const h = helpText(generate, 200);
  assertMatch(h, /^Usage: generate \[flags\]\n\nSamples synthetic volumes\.\n\nFlags:\n/);
  assertMatch(
    h,
    /-c, --config <file> +training config file .*default: \.\/config\/config_train_32g\.json; also: --config-file, --config_file/,
  );
  assertMatch(h, /-g, --gpus <n> /);
  assertMatch(h, / {6}--num <n> +how many volumes \(default: 1\)/);
  assertMatch(h, /-h, --help +show this help/);
  assert(!h.includes("download_data"));
  assertMatch(helpText(train, 200), /--download_data +download and extract/);
});

Deno.test("args: a flag where a value should be is not swallowed; grouped short flags work", () => {
  assertThrows(
    () => parseCliArgs(["-c", "--gpus", "2"], train),
    /^train_autoencoder: -c\/--config needs a value <file>$/,
  );
  const a = parseCliArgs(["-hc", "x.json"], train);
  assertEquals([a.help, a.config], [true, "x.json"]);
  assertEquals(parseCliArgs(["-cfile.json"], train).config, "file.json");
});

const ALL_COMMANDS: CommandSpec[] = [
  trainingSpec(TRAIN_AUTOENCODER_COMMAND),
  trainingSpec(TRAIN_DIFFUSION_COMMAND),
  GENERATE_COMMAND,
  DEMO_COMMAND,
];

Deno.test("args: integer and positive flags name the flag and the value", () => {
  const spec = trainingSpec(TRAIN_AUTOENCODER_COMMAND);
  for (const bad of ["abc", "-3", "1.5", "0", ""]) {
    assertThrows(
      () => parseCliArgs(["--epochs", bad], spec),
      new RegExp(`^train_autoencoder: --epochs: expected a positive integer, got "${bad}"$`),
    );
  }
  assertEquals(parseCliArgs(["--epochs", "3"], spec).flags.epochs, "3");
  assertThrows(
    () => parseCliArgs(["--seed", "-1"], spec),
    /--seed: expected a non-negative integer, got "-1"/,
  );
  assertThrows(() => parseCliArgs(["--dist", "tcp"], spec), /--dist: expected one of shm, mpi, got "tcp"/);
  assertThrows(
    () => parseCliArgs(["--samples", "abc"], DEMO_COMMAND),
    /^demo: --samples: expected a positive integer, got "abc"$/,
  );
  assertThrows(
    () => parseCliArgs(["--diffusion-epochs", "2.5"], DEMO_COMMAND),
    /^demo: --diffusion-epochs: expected a positive integer, got "2.5"$/,
  );
  assertThrows(() => parseCliArgs(["--eta", "x"], GENERATE_COMMAND), /--eta: expected a number, got "x"/);
  assertThrows(
    () => parseCliArgs(["--scale-factor", "-1"], GENERATE_COMMAND),
    /--scale-factor: expected a positive number, got "-1"/,
  );
  assertThrows(
    () => parseCliArgs(["--clip-sample", "yes"], GENERATE_COMMAND),
    /--clip-sample: expected one of true, false, latent-range, got "yes"/,
  );
  assertThrows(
    () => parseCliArgs(["-g", "1.5"], train),
    /-g\/--gpus: expected a positive integer, got "1.5"/,
  );
});

Deno.test("args: generate takes -n/--num as the reference's inference.py", () => {
  assertEquals(parseCliArgs(["-n", "4"], GENERATE_COMMAND).flags.num, "4");
  assertEquals(parseCliArgs(["--num", "2"], GENERATE_COMMAND).flags.num, "2");
  assertThrows(() => parseCliArgs(["-n", "0"], GENERATE_COMMAND), /-n\/--num: expected a positive integer/);
});

Deno.test("args: near-miss flags get a 'did you mean'", () => {
  assertEquals(editDistance("confg", "config"), 1);
  assertEquals(editDistance("ouptut", "output"), 1); // transposition
  assertEquals(editDistance("", "abc"), 3);
  assertEquals(suggestFlag("epoch", ["epochs", "seed"]), "epochs");
  assertEquals(suggestFlag("autoencoder_checkpoint", ["autoencoder-checkpoint"]), "autoencoder-checkpoint");
  assertEquals(suggestFlag("synth", ["synth-every", "seed"]), "synth-every"); // unique prefix
  assertEquals(suggestFlag("zzzzzz", ["epochs", "seed"]), undefined);
  assertThrows(
    () => parseCliArgs(["--sampels", "3"], DEMO_COMMAND),
    /^demo: unknown flag "--sampels" \(did you mean --samples\?\); valid flags: /,
  );
  assertThrows(
    () => parseCliArgs(["--epoch", "3"], trainingSpec(TRAIN_DIFFUSION_COMMAND)),
    /unknown flag "--epoch" \(did you mean --epochs\?\)/,
  );
  // A long flag written with one dash is not split into short flags.
  assertThrows(
    () => parseCliArgs(["-epochs", "3"], trainingSpec(TRAIN_DIFFUSION_COMMAND)),
    /unknown flag "-epochs" \(did you mean --epochs\?\)/,
  );
  const e = assertThrows(() => parseCliArgs(["--bogus"], train)) as Error;
  assert(!e.message.includes("did you mean"), e.message);
});

Deno.test("args: every command's help states each default once and fits the width", () => {
  for (const spec of ALL_COMMANDS) {
    for (const width of [60, 100, 160]) {
      const h = helpText(spec, width);
      for (const line of h.split("\n")) {
        assert(line.length <= width, `${spec.name} help at ${width} columns: "${line}" (${line.length})`);
      }
      // Defaults once: "default" appears at most once per flag entry (joined wrapped lines).
      const entries = h.split("Flags:\n")[1].split(/\n(?= {2}(?:-\w, |\s{4})--)/);
      for (const entry of entries) {
        const n = (entry.match(/default/gi) ?? []).length;
        assert(n <= 1, `${spec.name}: "default" stated ${n} times in: ${entry}`);
      }
    }
  }
  // Narrow terminals put descriptions under the flag.
  assertMatch(helpText(trainingSpec(TRAIN_DIFFUSION_COMMAND), 40), /\n {6}--synth-every <n>\n {8}epochs/);
  assertMatch(helpText(DEMO_COMMAND, 100), /--force/);
  assertMatch(helpText(DEMO_COMMAND, 100).replace(/\s+/g, " "), /working directory is always refused/);
  assertEquals(Object.keys(TRAINING_FLAGS), ["epochs", "seed", "dist"]);
});

Deno.test("args: wrapText keeps words whole", () => {
  assertEquals(wrapText("aa bb cc dd", 5), ["aa bb", "cc dd"]);
  assertEquals(wrapText("averyveryverylongword x", 5), ["averyveryverylongword", "x"]);
  assertEquals(wrapText("a\nb", 10), ["a", "b"]);
});

Deno.test("args: --backend takes auto|webgpu|wasm and an unknown value lists the valid ones", () => {
  assertEquals(parseCliArgs(["--backend", "wasm"], train).backend, "wasm");
  assertEquals(parseCliArgs([], train).backend, undefined);
  const e = assertThrows(() => parseCliArgs(["--backend=cuda"], train)) as Error;
  assert(e instanceof ArgsError);
  assertMatch(
    e.message,
    /train_autoencoder: --backend: unknown backend "cuda"; valid values are auto, webgpu, wasm/,
  );
});
