/**
 * Fused diffusion-scheduler kernels: one dispatch per sampler step and one per add_noise / get_velocity.
 * The per-timestep coefficients are computed on the host and arrive as uniforms, so a sampling loop never
 * reads anything back. Both kernels process vec4 lanes when the sizes allow it.
 */
import type { NoiseMixOp, SchedulerStepCoefficients, SchedulerStepSpec } from "../backend/fused.ts";
import type { Runtime } from "./runtime.ts";
import { type BufferDecl, kernelLayout } from "./kernel.ts";

const WG = 256;

/** Step coefficients (see `SchedulerStepCoefficients`): x̂0 = (a·x + b·m)/c, ε = (d·x + e·m)/f, clip to [lo, hi]. */
const STEP_UNIFORMS = {
  count: "u32",
  a: "f32",
  b: "f32",
  c: "f32",
  d: "f32",
  e: "f32",
  f: "f32",
  lo: "f32",
  hi: "f32",
  p: "f32",
  q: "f32",
  s: "f32",
} as const;

/** Element type T is aliased per kernel (f32 or vec4<f32>). */
function stepLayout(noise: boolean) {
  const read = (name: string): BufferDecl => ({ name, type: "T" });
  const write = (name: string): BufferDecl => ({ name, type: "T", access: "read_write" });
  const inputs = [read("sampleIn"), read("modelOutput"), ...(noise ? [read("noise")] : [])];
  return kernelLayout([...inputs, write("prevOut"), write("predOut")], STEP_UNIFORMS);
}
const STEP_LAYOUTS = [false, true].map(stepLayout);

const MIX_LAYOUT = kernelLayout(
  [
    { name: "original", type: "T" },
    { name: "noise", type: "T" },
    { name: "timesteps", type: "i32" },
    { name: "table", type: "f32" },
    { name: "out", type: "T", access: "read_write" },
  ],
  {
    count: "u32",
    perSample: "u32",
    numTrain: "i32",
    /** 1 when one timestep applies to every sample. */
    timestepCount: "u32",
  } as const,
);

function stepSource(spec: SchedulerStepSpec, vec4: boolean): string {
  const T = vec4 ? "vec4<f32>" : "f32";
  const layout = STEP_LAYOUTS[spec.noise ? 1 : 0];
  let body = `  let x = sampleIn[i];\n  let m = modelOutput[i];\n`;
  body += `  var x0 = (T(a) * x + T(b) * m) / T(c);\n`;
  if (spec.clip) body += `  x0 = clamp(x0, T(lo), T(hi));\n`;
  if (spec.form === "ddim") body += `  let eps = (T(d) * x + T(e) * m) / T(f);\n`;
  body += `  var prev = T(p) * x0 + T(q) * ${spec.form === "ddim" ? "eps" : "x"};\n`;
  if (spec.noise) body += `  prev = prev + T(s) * noise[i];\n`;
  return `alias T = ${T};
${layout.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= count) { return; }
${body}  prevOut[i] = prev;
  predOut[i] = x0;
}
`;
}

/** Records one fused scheduler step over `n` float32 elements: writes `prev` and `pred` (x̂0). */
export function runSchedulerStep(
  rt: Runtime,
  spec: SchedulerStepSpec,
  sample: GPUBuffer,
  modelOutput: GPUBuffer,
  noise: GPUBuffer | null,
  prev: GPUBuffer,
  pred: GPUBuffer,
  n: number,
  k: SchedulerStepCoefficients,
): void {
  if (spec.noise !== (noise !== null)) {
    throw new Error("scheduler step kernel: noise buffer does not match the spec");
  }
  const vec4 = n % 4 === 0;
  const count = vec4 ? n / 4 : n;
  const u = STEP_LAYOUTS[0].pack({ count, ...k });
  const inputs = noise ? [sample, modelOutput, noise] : [sample, modelOutput];
  rt.dispatch(stepSource(spec, vec4), [...inputs, prev, pred], u, Math.ceil(count / WG));
}

function mixSource(op: NoiseMixOp, vec4: boolean): string {
  const T = vec4 ? "vec4<f32>" : "f32";
  const expr = op === "addNoise" ? "T(ca) * x0 + T(cb) * eps" : "T(ca) * eps - T(cb) * x0";
  return `alias T = ${T};
${MIX_LAYOUT.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${MIX_LAYOUT.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= count) { return; }
  let b = select(i / perSample, 0u, timestepCount == 1u);
  let t = timesteps[b];
  if (t < 0 || t >= numTrain) {
    // Out-of-range timesteps on the device cannot raise; make them visible as NaN.
    out[i] = T(bitcast<f32>(0x7fc00000u));
    return;
  }
  let ca = table[t];
  let cb = table[numTrain + t];
  let x0 = original[i];
  let eps = noise[i];
  out[i] = ${expr};
}
`;
}

/**
 * Records add_noise / get_velocity over `n` elements, `perSample` per batch element. `timesteps` holds
 * `timestepCount` int32 values (one per batch element, or one for all); `table` holds √ᾱ (T values) then
 * √(1−ᾱ) (T values), T = `numTrainTimesteps`.
 */
export function runNoiseMix(
  rt: Runtime,
  op: NoiseMixOp,
  original: GPUBuffer,
  noise: GPUBuffer,
  timesteps: GPUBuffer,
  table: GPUBuffer,
  out: GPUBuffer,
  n: number,
  perSample: number,
  timestepCount: number,
  numTrainTimesteps: number,
): void {
  const vec4 = perSample % 4 === 0;
  const count = vec4 ? n / 4 : n;
  const u = MIX_LAYOUT.pack({
    count,
    perSample: vec4 ? perSample / 4 : perSample,
    numTrain: numTrainTimesteps,
    timestepCount,
  });
  rt.dispatch(mixSource(op, vec4), [original, noise, timesteps, table, out], u, Math.ceil(count / WG));
}
