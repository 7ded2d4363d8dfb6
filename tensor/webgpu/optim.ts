/**
 * Fused optimizer updates: one kernel per parameter tensor updates the parameter and its state in place,
 * in PyTorch's operation order (torch.optim.Adam / AdamW / SGD, single-tensor path, float32 math).
 */
import type { OptimizerKind, OptimizerStepArgs } from "../backend/fused.ts";
import type { Runtime } from "./runtime.ts";
import { type BufferDecl, kernelLayout } from "./kernel.ts";

const WG = 256;

const UNIFORMS = {
  n: "u32",
  lr: "f32",
  b1: "f32",
  b2: "f32",
  eps: "f32",
  wd: "f32",
  stepSize: "f32",
  bc2Sqrt: "f32",
  decoupled: "u32",
  momentum: "f32",
  /** 1 − dampening, and the other scalars PyTorch forms in double before the float32 op gets them. */
  oneMinusDampening: "f32",
  firstStep: "u32",
  nesterov: "u32",
  oneMinusB1: "f32",
  oneMinusB2: "f32",
  /** 1 − lr·wd, the decoupled (AdamW) decay factor. */
  decay: "f32",
} as const;
const param: BufferDecl[] = [{ name: "p", type: "f32", access: "read_write" }, { name: "g", type: "f32" }];
const state = (name: string): BufferDecl => ({ name, type: "f32", access: "read_write" });
const ADAM = kernelLayout([...param, state("m"), state("v")], UNIFORMS);
const SGD = kernelLayout(param, UNIFORMS);
const SGD_MOMENTUM = kernelLayout([...param, state("buf")], UNIFORMS);

function source(kind: OptimizerKind, withState: boolean): string {
  if (kind === "adam") {
    return `${ADAM.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${ADAM.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= n) { return; }
  var param = p[i];
  var grad = g[i];
  if (wd != 0.0) {
    if (decoupled == 1u) { param = param * decay; } else { grad = grad + wd * param; }
  }
  let mi = m[i] * b1 + oneMinusB1 * grad;
  let vi = v[i] * b2 + (oneMinusB2 * grad) * grad;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / bc2Sqrt + eps;
  p[i] = param + (-stepSize * mi) / denom;
}`;
  }
  const layout = withState ? SGD_MOMENTUM : SGD;
  return `${layout.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= n) { return; }
  let param = p[i];
  var d = g[i];
  if (wd != 0.0) { d = d + wd * param; }
  ${
    withState
      ? `var b = d;
  if (firstStep == 0u) { b = buf[i] * momentum + oneMinusDampening * d; }
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
  const u = ADAM.pack({
    n,
    lr: a.lr,
    b1: a.beta1 ?? 0,
    b2: a.beta2 ?? 0,
    eps: a.eps ?? 0,
    wd: a.weightDecay,
    stepSize: a.stepSize ?? 0,
    bc2Sqrt: a.biasCorrection2Sqrt ?? 1,
    decoupled: a.decoupled ? 1 : 0,
    momentum: a.momentum ?? 0,
    oneMinusDampening: 1 - (a.dampening ?? 0),
    firstStep: a.firstStep ? 1 : 0,
    nesterov: a.nesterov ? 1 : 0,
    oneMinusB1: 1 - (a.beta1 ?? 0),
    oneMinusB2: 1 - (a.beta2 ?? 0),
    decay: 1 - a.lr * a.weightDecay,
  });
  rt.dispatch(source(kind, state.length > 0), [param, grad, ...state], u, Math.ceil(n / WG));
}
