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
import { assertGradient, assertRel, fixtureTensor, gradientScale, setup } from "../_helpers.ts";

await setup();

type Built = Module & { forward(x: Tensor): Tensor };

/** Fails, naming the field, when an entry asks for a setting our module does not implement. */
function requireFields(m: any, fixed: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(fixed)) {
    assert.deepEqual(
      m[k],
      v,
      `${m.type}: ${k} = ${JSON.stringify(m[k])} is not supported (only ${JSON.stringify(v)})`,
    );
  }
}

function build(m: any): Built | null {
  const rng = new HostRng(0);
  if (m.type === "Conv3d") requireFields(m, { dilation: 1, groups: 1, padding_mode: "zeros" });
  if (m.type === "AEKLDownsample") {
    requireFields(m, {
      out_channels: m.in_channels,
      pad_before: [0, 0, 0],
      pad_after: [1, 1, 1],
      kernel_size: 3,
    });
    requireFields(m, { stride: 2, padding: 0, bias: true });
  }
  if (m.type === "UpsampleNearestConv") requireFields(m, { scale_factor: 2, interp_mode: "nearest" });
  if (m.type === "SpatialAttentionBlock") {
    requireFields(m, { num_heads: m.num_channels / m.num_head_channels });
  }
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
        const scale = gradientScale(Object.values<string>(m.param_grads).map((t) => fx!.tensor(t).data));
        for (const [k, p] of layer.namedParameters()) {
          assert.ok(m.param_grads[k], `${name}: meta.json has no reference gradient for ${k}`);
          const r = await assertGradient(
            p.grad!,
            fx!.tensor(m.param_grads[k]).data,
            scale,
            1e-4,
            `${name} grad ${k}`,
          );
          report[`${name}/grad ${k}`] = r.error;
        }
        for (const t of [x, y, gy]) t.dispose();
        layer.dispose();
      }
      console.log(`${caseName}:`, JSON.stringify(report));
    },
  });
}
