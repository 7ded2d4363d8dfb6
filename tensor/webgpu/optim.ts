/**
 * Fused optimizer updates: one kernel per parameter tensor updates the parameter and its state in place,
 * in PyTorch's operation order (torch.optim.Adam / AdamW / SGD, single-tensor path, float32 math).
 */
import type { OptimizerKind, OptimizerStepArgs } from "../backend/fused.ts";
import { kernelPrelude, type Runtime } from "./runtime.ts";

const WG = 256;

function source(kind: OptimizerKind, withState: boolean): string {
  if (kind === "adam") {
    return `
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
${kernelPrelude(4)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= U(0u)) { return; }
  let lr = UF(1u); let b1 = UF(2u); let b2 = UF(3u); let eps = UF(4u); let wd = UF(5u);
  let stepSize = UF(6u); let bc2Sqrt = UF(7u); let decoupled = U(8u);
  var param = p[i];
  var grad = g[i];
  if (wd != 0.0) {
    if (decoupled == 1u) { param = param * UF(15u); } else { grad = grad + wd * param; }
  }
  let mi = m[i] * b1 + UF(13u) * grad;
  let vi = v[i] * b2 + (UF(14u) * grad) * grad;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / bc2Sqrt + eps;
  p[i] = param + (-stepSize * mi) / denom;
}`;
  }
  return `
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
${withState ? "@group(0) @binding(2) var<storage, read_write> buf: array<f32>;" : ""}
${kernelPrelude(withState ? 3 : 2)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= U(0u)) { return; }
  let lr = UF(1u); let wd = UF(5u); let momentum = UF(9u); let dampening = UF(10u); // 1 − dampening
  let firstStep = U(11u); let nesterov = U(12u);
  let param = p[i];
  var d = g[i];
  if (wd != 0.0) { d = d + wd * param; }
  ${
    withState
      ? `var b = d;
  if (firstStep == 0u) { b = buf[i] * momentum + dampening * d; }
  buf[i] = b;
  if (nesterov == 1u) { d = d + momentum * b; } else { d = b; }`
      : ""
  }
  p[i] = param + (-lr) * d;
}`;
}

/** Records the fused update of `n` elements: `state` is [m, v] for Adam, [momentumBuffer] or [] for SGD. */
export function runOptimizerStep(
  rt: Runtime,
  kind: OptimizerKind,
  param: GPUBuffer,
  grad: GPUBuffer,
  state: GPUBuffer[],
  n: number,
  a: OptimizerStepArgs,
): void {
  if (kind === "adam" && state.length !== 2) throw new Error("adam step needs 2 state buffers (m, v)");
  const f = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
  const u = [
    n,
    f(a.lr),
    f(a.beta1 ?? 0),
    f(a.beta2 ?? 0),
    f(a.eps ?? 0),
    f(a.weightDecay),
    f(a.stepSize ?? 0),
    f(a.biasCorrection2Sqrt ?? 1),
    a.decoupled ? 1 : 0,
    f(a.momentum ?? 0),
    // Scalars PyTorch forms in double before the float32 op gets them.
    f(1 - (a.dampening ?? 0)),
    a.firstStep ? 1 : 0,
    a.nesterov ? 1 : 0,
    f(1 - (a.beta1 ?? 0)),
    f(1 - (a.beta2 ?? 0)),
    f(1 - a.lr * a.weightDecay),
  ];
  rt.dispatch(source(kind, state.length > 0), [param, grad, ...state], u, Math.ceil(n / WG));
}
