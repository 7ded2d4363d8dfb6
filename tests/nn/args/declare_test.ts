import assert from "node:assert/strict";
import {
  type ArgTable,
  type Declaration,
  fileNames,
  hasDefault,
  optionNames,
  resolveArgs,
} from "../../../nn/args/declare.ts";
import { Problems, readArgs, Section } from "../../../nn/args/reader.ts";
import {
  AUTOENCODER_KL_ARGS,
  AutoencoderKL,
  type AutoencoderKLOptions,
} from "../../../nn/models/autoencoder_kl.ts";
import {
  PATCH_DISCRIMINATOR_ARGS,
  PatchDiscriminator,
  type PatchDiscriminatorOptions,
} from "../../../nn/models/patch_discriminator.ts";
import {
  DIFFUSION_MODEL_UNET_ARGS,
  DiffusionModelUNet,
  type DiffusionModelUNetOptions,
} from "../../../diffusion/unet.ts";
import { setup } from "../_helpers.ts";

await setup();

// Compile-time: the options types come from the declarations (wrong names and types are rejected).
export const typeCases: AutoencoderKLOptions[] = [
  { channels: [8, 16], numResBlocks: 1 },
  { numChannels: [8, 16], useCheckpointing: true, numResBlocks: [1, 2] },
  // @ts-expect-error an unknown option
  { chanels: [8] },
  // @ts-expect-error channels is a list
  { channels: 8 },
];
// @ts-expect-error the UNet needs inChannels and outChannels (no default, no other name)
export const unetWithoutChannels: DiffusionModelUNetOptions = { channels: [8] };
export const discriminatorGm: PatchDiscriminatorOptions = { numChannels: 8 };

/** MONAI's class defaults (monai/networks/nets/{autoencoderkl,patchgan_discriminator,diffusion_model_unet}.py). */
const MONAI_DEFAULTS: Record<string, Record<string, unknown>> = {
  AutoencoderKL: {
    spatialDims: 3, // the class requires it; 3 is the only one we build
    inChannels: 1,
    outChannels: 1,
    numResBlocks: 2,
    channels: [32, 64, 64],
    attentionLevels: [false, false, true],
    latentChannels: 3,
    normNumGroups: 32,
    normEps: 1e-6,
    withEncoderNonlocalAttn: true,
    withDecoderNonlocalAttn: true,
    useCheckpoint: false,
    useConvtranspose: false,
    includeFc: true,
    useCombinedLinear: false,
    useFlashAttention: false,
  },
  PatchDiscriminator: {
    spatialDims: 3,
    numLayersD: 3,
    inChannels: 1,
    outChannels: 1,
    kernelSize: 4,
    negativeSlope: 0.2,
    norm: "BATCH",
    bias: false,
    padding: 1,
    dropout: 0,
    lastConvKernelSize: null,
    init: "normal",
  },
  DiffusionModelUNet: {
    spatialDims: 3,
    numResBlocks: 2,
    channels: [32, 64, 64, 64],
    attentionLevels: [false, false, true, true],
    normNumGroups: 32,
    normEps: 1e-6,
    resblockUpdown: false,
    numHeadChannels: 8,
    withConditioning: false,
    transformerNumLayers: 1,
    crossAttentionDim: null,
    numClassEmbeds: null,
    upcastAttention: false,
    includeFc: true,
    useCombinedLinear: false,
    dropoutCattn: 0,
    useFlashAttention: false,
    numTrainTimesteps: 1000,
  },
};

const DECLARATIONS = [AUTOENCODER_KL_ARGS, PATCH_DISCRIMINATOR_ARGS, DIFFUSION_MODEL_UNET_ARGS];

Deno.test("declared defaults are MONAI's class defaults; required ones have none", () => {
  for (const decl of DECLARATIONS) {
    const defaults = Object.fromEntries(
      Object.entries(decl.args as ArgTable).filter(([, a]) => hasDefault(a)).map(([k, a]) => [k, a.default]),
    );
    assert.deepEqual(defaults, MONAI_DEFAULTS[decl.owner], decl.owner);
  }
  assert.deepEqual(
    Object.entries(DIFFUSION_MODEL_UNET_ARGS.args as ArgTable).filter(([, a]) => !hasDefault(a)).map(([k]) =>
      k
    ),
    ["inChannels", "outChannels"],
  );
  assert.equal(hasDefault(PATCH_DISCRIMINATOR_ARGS.args.channels), false);
});

Deno.test("the models build what their declared defaults say (same parameters as with every default spelled out)", () => {
  const spelled = (decl: typeof DECLARATIONS[number]) =>
    Object.fromEntries(
      Object.entries(decl.args as ArgTable).filter(([, a]) => hasDefault(a)).map(([k, a]) => [k, a.default]),
    );
  const small = { channels: [8, 16], attentionLevels: [false, true], normNumGroups: 4, numHeadChannels: 8 };
  const aeA = new AutoencoderKL({ channels: [8, 16], attentionLevels: [false, true], normNumGroups: 4 });
  const aeB = new AutoencoderKL({ ...spelled(AUTOENCODER_KL_ARGS), ...small });
  assert.deepEqual(aeA.stateDictShapes(), aeB.stateDictShapes());
  assert.deepEqual(aeA.config, resolveArgs(AUTOENCODER_KL_ARGS, small));
  const unetA = new DiffusionModelUNet({ inChannels: 2, outChannels: 2, ...small });
  const unetB = new DiffusionModelUNet({
    ...spelled(DIFFUSION_MODEL_UNET_ARGS),
    inChannels: 2,
    outChannels: 2,
    ...small,
  });
  assert.deepEqual(unetA.stateDictShapes(), unetB.stateDictShapes());
  const dA = new PatchDiscriminator({ channels: 4, norm: "INSTANCE" });
  const dB = new PatchDiscriminator({ ...spelled(PATCH_DISCRIMINATOR_ARGS), channels: 4, norm: "INSTANCE" });
  assert.deepEqual(dA.stateDictShapes(), dB.stateDictShapes());
  assert.equal(dA.layers.length, 2 + 3, "numLayersD defaults to 3");
  for (const m of [aeA, aeB, unetA, unetB, dA, dB]) m.dispose();
});

Deno.test("constructor options: GenerativeModels' names, per-level expansion, and clear errors", () => {
  const r = resolveArgs(AUTOENCODER_KL_ARGS, {
    numChannels: [8, 16],
    numResBlocks: 1,
    attentionLevels: [false, false],
    normNumGroups: 8,
    useCheckpointing: true,
  });
  assert.deepEqual(r.channels, [8, 16]);
  assert.deepEqual(r.numResBlocks, [1, 1]);
  assert.equal(r.useCheckpoint, true);
  assert.deepEqual(resolveArgs(PATCH_DISCRIMINATOR_ARGS, { numChannels: 8 }).channels, 8);
  assert.throws(
    () => new AutoencoderKL({ channels: [8, 16], numResBlocks: [1, 1, 1], attentionLevels: [false, false] }),
    /AutoencoderKL numResBlocks: expected 2 entries \(one per level of channels\), got 3/,
  );
  assert.throws(
    () => new AutoencoderKL({ channels: [8, 16], attentionLevels: [false, false], normNumGroups: 3 }),
    /^Error: AutoencoderKL: norm_num_groups: 3 does not divide channels 8, 16$/,
  );
  assert.throws(
    () => new PatchDiscriminator({ channels: 0 }),
    /PatchDiscriminator: channels: expected positive integer, got 0/,
  );
  assert.throws(() => new PatchDiscriminator({}), /PatchDiscriminator: `channels` is required/);
  assert.throws(
    () => new DiffusionModelUNet({ inChannels: 1 } as DiffusionModelUNetOptions),
    /DiffusionModelUNet: `outChannels` is required/,
  );
  assert.throws(
    () =>
      new DiffusionModelUNet({
        inChannels: 1,
        outChannels: 1,
        channels: [8, 16],
        attentionLevels: [false, true],
        normNumGroups: 4,
        numHeadChannels: [0, 3],
      }),
    /DiffusionModelUNet: num_head_channels: level 1 has attention and 16 channels, so it needs a positive divisor of 16, got 3/,
  );
});

Deno.test("names: the reference's spelling first, then camelCase and the aliases", () => {
  assert.deepEqual(fileNames("channels", AUTOENCODER_KL_ARGS.args.channels), [
    "num_channels",
    "numChannels",
    "channels",
  ]);
  assert.deepEqual(fileNames("numLayersD", PATCH_DISCRIMINATOR_ARGS.args.numLayersD), [
    "num_layers_d",
    "numLayersD",
  ]);
  assert.deepEqual(optionNames("useCheckpoint", AUTOENCODER_KL_ARGS.args.useCheckpoint), [
    "useCheckpoint",
    "useCheckpointing",
  ]);
});

Deno.test("readArgs: every problem at once with key paths; expansion; rules; did-you-mean", () => {
  const decl = {
    owner: "thing",
    args: {
      channels: { type: "positive integer", list: "nonEmpty", config: "required" },
      depth: { type: "non-negative integer", levels: "expand", default: 1, aliases: ["num_layers"] },
      width: { type: "positive integer", default: 4 },
    },
    rules: [(a: { width: number }) => a.width > 10 ? [{ arg: "width", message: "is too wide" }] : []],
  } as const satisfies Declaration;
  const read = (obj: Record<string, unknown>) => {
    const ctx = new Problems("f.json");
    const s = new Section(obj, "sec", ctx);
    const v = readArgs(s, decl);
    s.leftovers();
    return { v, ctx };
  };
  let { v, ctx } = read({ channels: [3, 3], num_layers: 2, widht: 5 });
  assert.deepEqual(v, { channels: [3, 3], depth: [2, 2], width: 4 });
  assert.deepEqual(ctx.problems, []);
  assert.deepEqual(ctx.warnings, ['f.json: sec.widht: unknown key, ignored (did you mean "width"?)']);
  ({ ctx } = read({ depth: "x", width: 0 }));
  assert.deepEqual(ctx.problems, [
    "f.json: sec.channels: missing (expected positive integer[] with at least one level)",
    'f.json: sec.depth: expected non-negative integer | non-negative integer[], got "x"',
    "f.json: sec.width: expected positive integer, got 0",
  ]);
  ({ ctx } = read({ channels: [1], depth: [1, 1] }));
  assert.deepEqual(ctx.problems, ["f.json: sec.depth: has 2 entries, but channels has 1 levels"]);
  ({ ctx } = read({ channels: [1], width: 11, zzz: 1 }));
  assert.deepEqual(ctx.problems, ["f.json: sec.width: is too wide"]);
  assert.deepEqual(ctx.warnings, ["f.json: sec.zzz: unknown key, ignored"]);
});
