/**
 * Fused diffusion-scheduler kernels: one dispatch per sampler step and one per add_noise / get_velocity.
 * The per-timestep coefficients are computed on the host and arrive as uniforms, so a sampling loop never
 * reads anything back. Both kernels process vec4 lanes when the sizes allow it.
 */
import type { NoiseMixOp, SchedulerStepCoefficients, SchedulerStepSpec } from "../backend/fused.ts";
import { kernelPrelude, type Runtime } from "./runtime.ts";

const WG = 256;

function stepSource(spec: SchedulerStepSpec, vec4: boolean): string {
  const T = vec4 ? "vec4<f32>" : "f32";
  const bindings = ["sampleIn", "modelOutput", ...(spec.noise ? ["noise"] : [])];
  let decl = `alias T = ${T};\n`;
  bindings.forEach((name, k) => (decl += `@group(0) @binding(${k}) var<storage, read> ${name}: array<T>;\n`));
  const n = bindings.length;
  decl += `@group(0) @binding(${n}) var<storage, read_write> prevOut: array<T>;\n`;
  decl += `@group(0) @binding(${n + 1}) var<storage, read_write> predOut: array<T>;\n`;
  decl += kernelPrelude(n + 2);
  const c = (k: number) => `T(UF(${k}u))`;
  let body = `  let x = sampleIn[i];\n  let m = modelOutput[i];\n`;
  body += `  var x0 = (${c(1)} * x + ${c(2)} * m) / ${c(3)};\n`;
  if (spec.clip) body += `  x0 = clamp(x0, ${c(7)}, ${c(8)});\n`;
  if (spec.form === "ddim") body += `  let eps = (${c(4)} * x + ${c(5)} * m) / ${c(6)};\n`;
  body += `  var prev = ${c(9)} * x0 + ${c(10)} * ${spec.form === "ddim" ? "eps" : "x"};\n`;
  if (spec.noise) body += `  prev = prev + ${c(11)} * noise[i];\n`;
  return `${decl}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= U(0u)) { return; }
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
  const floats = new Float32Array([k.a, k.b, k.c, k.d, k.e, k.f, k.lo, k.hi, k.p, k.q, k.s]);
  const u = [count, ...new Uint32Array(floats.buffer)];
  const inputs = noise ? [sample, modelOutput, noise] : [sample, modelOutput];
  rt.dispatch(stepSource(spec, vec4), [...inputs, prev, pred], u, Math.ceil(count / WG));
}

function mixSource(op: NoiseMixOp, vec4: boolean): string {
  const T = vec4 ? "vec4<f32>" : "f32";
  const expr = op === "addNoise" ? "T(ca) * x0 + T(cb) * eps" : "T(ca) * eps - T(cb) * x0";
  return `alias T = ${T};
@group(0) @binding(0) var<storage, read> original: array<T>;
@group(0) @binding(1) var<storage, read> noise: array<T>;
@group(0) @binding(2) var<storage, read> timesteps: array<i32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;
${kernelPrelude(5)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= U(0u)) { return; }
  let b = select(i / U(1u), 0u, U(3u) == 1u);
  let t = timesteps[b];
  let numTrain = i32(U(2u));
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
  const u = [count, vec4 ? perSample / 4 : perSample, numTrainTimesteps, timestepCount];
  rt.dispatch(mixSource(op, vec4), [original, noise, timesteps, table, out], u, Math.ceil(count / WG));
}
