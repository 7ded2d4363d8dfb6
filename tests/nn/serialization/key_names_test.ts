/** GM ↔ MONAI core key names: SPEC.md examples, detection, projection policies, round trip on fixture param_keys. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixturesRoot } from "../../fixtures.ts";
import {
  coreKeyToGm,
  detectKeyNaming,
  gmKeyToCore,
  type ModelKind,
  type StateDict,
  toCoreNames,
  toGMNames,
} from "../../../nn/serialization/mod.ts";

Deno.test("key names: SPEC.md examples (AE upsampler, UNet attention and upsampler)", () => {
  const pairs: [ModelKind, string, string][] = [
    ["autoencoderkl", "decoder.blocks.3.conv.conv.weight", "decoder.blocks.3.postconv.conv.weight"],
    ["autoencoderkl", "decoder.blocks.6.conv.conv.bias", "decoder.blocks.6.postconv.conv.bias"],
    ["autoencoderkl", "encoder.blocks.3.conv.conv.weight", "encoder.blocks.3.conv.conv.weight"],
    ["autoencoderkl", "decoder.blocks.0.conv.weight", "decoder.blocks.0.conv.weight"],
    ["autoencoderkl", "decoder.blocks.2.to_q.weight", "decoder.blocks.2.attn.to_q.weight"],
    [
      "diffusion_unet",
      "down_blocks.1.attentions.0.to_q.weight",
      "down_blocks.1.attentions.0.attn.to_q.weight",
    ],
    ["diffusion_unet", "middle_block.attention.to_v.bias", "middle_block.attention.attn.to_v.bias"],
    [
      "diffusion_unet",
      "up_blocks.1.attentions.2.proj_attn.weight",
      "up_blocks.1.attentions.2.attn.out_proj.weight",
    ],
    [
      "diffusion_unet",
      "up_blocks.0.upsampler.conv.conv.weight",
      "up_blocks.0.upsampler.postconv.conv.weight",
    ],
    [
      "diffusion_unet",
      "down_blocks.0.downsampler.op.conv.weight",
      "down_blocks.0.downsampler.op.conv.weight",
    ],
    ["diffusion_unet", "down_blocks.1.attentions.0.norm.weight", "down_blocks.1.attentions.0.norm.weight"],
    ["attention_block", "to_k.weight", "attn.to_k.weight"],
    ["upsample", "nearest_conv.conv.conv.weight", "nearest_conv.postconv.conv.weight"],
    ["patch_discriminator", "initial_conv.conv.weight", "initial_conv.conv.weight"],
    // Cross-attention transformer blocks (unused here) are left alone rather than mangled.
    [
      "diffusion_unet",
      "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight",
      "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight",
    ],
  ];
  for (const [kind, gm, core] of pairs) {
    assert.equal(gmKeyToCore(gm, kind), core, `${kind}: ${gm}`);
    assert.equal(coreKeyToGm(core, kind), gm, `${kind}: ${core}`);
  }
  assert.throws(() => coreKeyToGm("a.attn.qkv.weight", "diffusion_unet"), /no GM equivalent/);
  assert.equal(gmKeyToCore("a.attn.to_q.weight", "diffusion_unet"), "a.attn.to_q.weight");
});

function fakeSd(keys: [string, number[]][]): StateDict {
  return new Map(keys.map(([k, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return [k, { dtype: "float32" as const, shape, data: new Float32Array(n).fill(0.5) }];
  }));
}

Deno.test("toCoreNames: projection policies rename / drop / identity; neutral and mixed state dicts", () => {
  const gm = fakeSd([
    ["mid.attention.norm.weight", [4]],
    ["mid.attention.to_q.weight", [4, 4]],
    ["mid.attention.proj_attn.weight", [4, 4]],
    ["mid.attention.proj_attn.bias", [4]],
  ]);
  assert.equal(detectKeyNaming(gm.keys(), "diffusion_unet"), "gm");
  const renamed = toCoreNames(gm, "diffusion_unet");
  assert.deepEqual([...renamed.keys()], [
    "mid.attention.norm.weight",
    "mid.attention.attn.to_q.weight",
    "mid.attention.attn.out_proj.weight",
    "mid.attention.attn.out_proj.bias",
  ]);
  assert.equal(renamed.get("mid.attention.attn.to_q.weight"), gm.get("mid.attention.to_q.weight"));
  const dropped = toCoreNames(gm, "diffusion_unet", { projection: "drop" });
  assert.deepEqual([...dropped.keys()], ["mid.attention.norm.weight", "mid.attention.attn.to_q.weight"]);
  const ident = toCoreNames(gm, "diffusion_unet", { projection: "identity" });
  assert.deepEqual([...ident.get("mid.attention.attn.out_proj.weight")!.data], [
    1,
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    1,
  ]);
  assert.deepEqual([...ident.get("mid.attention.attn.out_proj.bias")!.data], [0, 0, 0, 0]);
  const neutral = fakeSd([["initial_conv.conv.weight", [2, 1, 4, 4, 4]]]);
  assert.equal(detectKeyNaming(neutral.keys(), "patch_discriminator"), null);
  assert.equal(toCoreNames(neutral, "patch_discriminator"), neutral);
  const mixed = fakeSd([["a.to_q.weight", [1]], ["b.attn.to_q.weight", [1]]]);
  assert.throws(() => toCoreNames(mixed, "diffusion_unet"), /mixes GM \('a\.to_q\.weight'\) and MONAI core/);
});

const KIND_OF_CASE: Record<string, ModelKind> = {
  autoencoderkl_tiny: "autoencoderkl",
  diffusion_unet_tiny: "diffusion_unet",
  patch_discriminator_tiny: "patch_discriminator",
  attention_block: "attention_block",
  upsample: "upsample",
};

for (const [name, kind] of Object.entries(KIND_OF_CASE)) {
  let keys: [string, number[]][] | null = null;
  try {
    keys = JSON.parse(Deno.readTextFileSync(join(fixturesRoot(), name, "meta.json"))).param_keys?.model ??
      null;
  } catch { /* case absent: test is ignored */ }
  Deno.test({
    name: `key names: core → GM → core round trip on ${name} param_keys`,
    ignore: keys === null,
    fn() {
      const core = fakeSd(keys!);
      assert.notEqual(detectKeyNaming(core.keys(), kind), "gm", "fixtures use MONAI core names");
      const gm = toGMNames(core, kind);
      assert.equal(gm.size, core.size);
      if (detectKeyNaming(core.keys(), kind) === "core") {
        assert.equal(detectKeyNaming(gm.keys(), kind), "gm");
        for (const k of gm.keys()) {
          assert.ok(!/postconv|\.attn\.|^attn\./.test(k), `GM key still core-like: ${k}`);
        }
      }
      const back = toCoreNames(gm, kind);
      assert.deepEqual([...back.keys()], [...core.keys()]);
      for (const [k, t] of core) assert.equal(back.get(k), t);
    },
  });
}
