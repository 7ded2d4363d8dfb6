import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { ArgsError, COMMON_FLAGS, helpText, parseCliArgs } from "../../cli/args.ts";

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
    'train_autoencoder: unknown flag "--confg"; valid flags: -c/--config, -e/--environment, -g/--gpus, --download_data, -h/--help, --backend (see --help)',
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
  const h = helpText(generate);
  assertMatch(h, /^Usage: generate \[flags\]\n\nSamples synthetic volumes\.\n\nFlags:\n/);
  assertMatch(
    h,
    /-c, --config <file> +training config file .*default: \.\/config\/config_train_32g\.json; also: --config-file, --config_file/,
  );
  assertMatch(h, /-g, --gpus <n> /);
  assertMatch(h, / {6}--num <n> +how many volumes \(default: 1\)/);
  assertMatch(h, /-h, --help +show this help/);
  assert(!h.includes("download_data"));
  assertMatch(helpText(train), /--download_data +download and extract/);
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
