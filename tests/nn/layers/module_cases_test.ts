// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/**
 * The op-level fixture cases (conv3d, upsample, group_norm, attention_block) driven through our layer
 * modules: built from `config.modules`, weights loaded by the reference key names, forward and the
 * vector-Jacobian products for `grad_y` compared.
 */
import assert from "node:assert/strict";
import type { Tensor } from "../../../tensor/mod.ts";
import {
  AEKLDownsample,
  AEKLUpsample,
  Conv3d,
  GroupNorm,
  HostRng,
  InstanceNorm,
  type Module,
  SpatialAttentionBlock,
} from "../../../nn/mod.ts";
import { loadStateDictFile } from "../../../nn/serialization/mod.ts";
import type { StateDict } from "../../../nn/serialization/types.ts";
import { loadCase } from "../../fixtures.ts";
import { assertRel, fixtureTensor, setup } from "../_helpers.ts";

await setup();

type Built = Module & { forward(x: Tensor): Tensor };

function build(m: any): Built | null {
  const rng = new HostRng(0);
  switch (m.type) {
    case "Conv3d":
      return new Conv3d(m.in_channels, m.out_channels, m.kernel_size, {
        stride: m.stride,
        padding: m.padding,
        bias: m.bias,
        rng,
      });
    case "AEKLDownsample":
      return new AEKLDownsample(m.in_channels, rng);
    case "UpsampleNearestConv":
      return new AEKLUpsample(m.channels, false, rng);
    case "UpsampleDeconv":
      return new AEKLUpsample(m.channels, true, rng);
    case "GroupNorm":
      return new GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine);
    case "InstanceNorm3d":
      return new InstanceNorm(m.num_features, m.eps, m.affine);
    case "SpatialAttentionBlock":
      return new SpatialAttentionBlock(m.num_channels, m.num_head_channels, m.norm_num_groups, m.norm_eps, {
        includeFc: m.include_fc,
        useCombinedLinear: m.use_combined_linear,
        rng,
      });
  }
  return null;
}

function withoutPrefix(sd: StateDict, prefix: string): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

for (const caseName of ["conv3d", "upsample", "group_norm", "attention_block"]) {
  const fx = loadCase(caseName);
  Deno.test({
    name: `layer modules reproduce fixture case ${caseName} (forward, input and parameter gradients)`,
    ignore: !fx,
    fn: async () => {
      const sd = await loadStateDictFile(fx!.file("model.safetensors"));
      const report: Record<string, number> = {};
      for (const [name, m] of Object.entries<any>(fx!.meta.config.modules)) {
        const layer = build(m);
        assert.ok(layer, `unknown module type ${m.type}`);
        layer.loadStateDict(withoutPrefix(sd, m.state_dict_prefix), {
          file: `${caseName}/model.safetensors (${name})`,
        });
        assert.deepEqual(layer.namedParameters().map(([k]) => k), Object.keys(m.param_grads));
        const x = fixtureTensor(fx!, m.tensors.x).requireGrad();
        const y = layer.forward(x);
        assert.deepEqual(y.shape, m.output_shape);
        report[`${name}/y`] = await assertRel(y, fx!.tensor(m.tensors.y).data, 1e-4, `${name} y`);
        const gy = fixtureTensor(fx!, m.tensors.grad_y);
        y.backward(gy);
        report[`${name}/grad_x`] = await assertRel(
          x.grad!,
          fx!.tensor(m.tensors.grad_x).data,
          1e-4,
          `${name} grad_x`,
        );
        for (const [k, p] of layer.namedParameters()) {
          if (k.endsWith("to_k.bias")) continue; // mathematically zero
          report[`${name}/grad ${k}`] = await assertRel(
            p.grad!,
            fx!.tensor(m.param_grads[k]).data,
            1e-4,
            `${name} grad ${k}`,
          );
        }
        for (const t of [x, y, gy]) t.dispose();
        layer.dispose();
      }
      console.log(`${caseName}:`, JSON.stringify(report));
    },
  });
}
