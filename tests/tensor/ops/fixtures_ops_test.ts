// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/**
 * The op-level reference fixtures (conv3d, upsample, group_norm, attention_block): every module listed in
 * each case's config.modules is built from its settings and weights, run forward and backward with the
 * recorded upstream gradient, and compared at 1e-4 relative.
 */
import assert from "node:assert/strict";
import * as T from "../../../tensor/mod.ts";
import { loadCase, relError } from "../../fixtures.ts";
import { checkGradient, gradientScale } from "../../gradients.ts";
import { readSafetensors } from "./_ref.ts";

await T.init();

const TOL = 1e-4;

function linear(x: T.Tensor, w: T.Tensor, b: T.Tensor): T.Tensor {
  return T.add(T.matmul(x, T.transpose(w, 0, 1)), b);
}

/** The forward of one module from its config entry; `p(name)` gives a parameter (key without prefix). */
function buildModule(m: any, p: (name: string) => T.Tensor): (x: T.Tensor) => T.Tensor {
  switch (m.type) {
    case "Conv3d":
      assert.equal(m.groups, 1, `Conv3d: groups ${m.groups} is not supported`);
      assert.equal(m.padding_mode, "zeros", `Conv3d: padding_mode ${m.padding_mode} is not supported`);
      return (x) =>
        T.conv3d(x, p("weight"), m.bias ? p("bias") : null, {
          stride: m.stride,
          padding: m.padding,
          dilation: m.dilation,
        });
    case "AEKLDownsample":
      return (x) =>
        T.conv3d(x, p("conv.conv.weight"), m.bias ? p("conv.conv.bias") : null, {
          stride: m.stride,
          padding: {
            before: m.pad_before.map((v: number) => v + m.padding),
            after: m.pad_after.map((v: number) => v + m.padding),
          },
        });
    case "UpsampleNearestConv":
      assert.equal(m.interp_mode, "nearest");
      return (x) =>
        T.conv3d(
          T.upsampleNearest3d(x, m.scale_factor),
          p("postconv.conv.weight"),
          m.bias ? p("postconv.conv.bias") : null,
          {
            stride: m.stride,
            padding: m.padding,
          },
        );
    case "UpsampleDeconv":
      return (x) =>
        T.convTranspose3d(x, p("deconv.weight"), m.bias ? p("deconv.bias") : null, {
          stride: m.stride,
          padding: m.padding,
          outputPadding: m.output_padding,
        });
    case "GroupNorm":
      return (x) =>
        T.groupNorm(x, m.num_groups, m.affine ? p("weight") : null, m.affine ? p("bias") : null, m.eps);
    case "InstanceNorm3d":
      return (x) => T.instanceNorm(x, m.eps, m.affine ? p("weight") : null, m.affine ? p("bias") : null);
    case "SpatialAttentionBlock":
      return (x) => {
        const [B, C, X, Y, Z] = x.shape, N = X * Y * Z, heads = m.num_heads, dh = m.num_head_channels;
        assert.equal(m.use_combined_linear, false);
        const h = T.groupNorm(x, m.norm_num_groups, p("norm.weight"), p("norm.bias"), m.norm_eps);
        const tokens = T.transpose(T.reshape(h, [B, C, N]), 1, 2); // b c x y z → b (x y z) c
        const split = (t: T.Tensor) => T.permute(T.reshape(t, [B, N, heads, dh]), [0, 2, 1, 3]); // head-major
        const q = split(linear(tokens, p("attn.to_q.weight"), p("attn.to_q.bias")));
        const k = split(linear(tokens, p("attn.to_k.weight"), p("attn.to_k.bias")));
        const v = split(linear(tokens, p("attn.to_v.weight"), p("attn.to_v.bias")));
        const o = T.attention(q, k, v, dh ** -0.5);
        const merged = T.reshape(T.permute(o, [0, 2, 1, 3]), [B, N, C]);
        const out = linear(merged, p("attn.out_proj.weight"), p("attn.out_proj.bias"));
        const back = T.reshape(T.transpose(out, 1, 2), [B, C, X, Y, Z]);
        return T.add(back, x);
      };
    default:
      throw new Error(`fixtures: unknown module type ${m.type}`);
  }
}

for (const caseName of ["conv3d", "upsample", "group_norm", "attention_block"]) {
  const fc = loadCase(caseName);
  if (!fc) {
    Deno.test({ name: `fixture ${caseName}: absent, skipped`, ignore: true, fn() {} });
    continue;
  }
  const weights = readSafetensors(fc.file("model.safetensors"));
  for (const [name, m] of Object.entries<any>(fc.meta.config.modules)) {
    Deno.test(`fixture ${caseName}/${name} (${m.type}): output and every gradient within ${TOL}`, async () => {
      await T.scopeAsync(async () => {
        const params = new Map<string, T.Tensor>();
        const p = (key: string) => {
          let t = params.get(key);
          if (!t) {
            const w = weights.get(m.state_dict_prefix + key);
            if (!w) throw new Error(`${caseName}/${name}: no weight ${m.state_dict_prefix + key}`);
            t = T.tensor(w.data, w.shape).requireGrad();
            params.set(key, t);
          }
          return t;
        };
        const xs = fc.tensor(m.tensors.x);
        assert.deepEqual(xs.shape, m.input_shape);
        const x = T.tensor(xs.data as Float32Array, xs.shape).requireGrad();
        const y = buildModule(m, p)(x);
        assert.deepEqual([...y.shape], m.output_shape);
        const ey = fc.tensor(m.tensors.y);
        const ry = relError(await y.data(), ey.data);
        assert.ok(ry <= TOL, `${name} y: rel error ${ry}`);
        const gy = fc.tensor(m.tensors.grad_y);
        y.backward(T.tensor(gy.data as Float32Array, gy.shape));
        const gx = relError(await x.grad!.data(), fc.tensor(m.tensors.grad_x).data);
        assert.ok(gx <= TOL, `${name} grad_x: rel error ${gx}`);
        const scale = gradientScale(Object.values<string>(m.param_grads).map((t) => fc.tensor(t).data));
        for (const [param, tname] of Object.entries<string>(m.param_grads)) {
          const t = params.get(param);
          assert.ok(t?.grad, `${name}: parameter ${param} got no gradient`);
          checkGradient(await t.grad!.data(), fc.tensor(tname).data, scale, TOL, `${name} grad ${param}`);
        }
        for (const t of [x, ...params.values()]) t.grad?.dispose();
      });
    });
  }
}
