/**
 * Counter-based random numbers (Philox4x32-10). A draw is addressed by key (seed, stream) and counter
 * (element, sample, step, 0), never by call order: a batch split over processes draws what one process would.
 */
import type { RandomKey, RandomKind } from "../backend/random.ts";
import type { Runtime } from "./runtime.ts";
import { kernelLayout } from "./kernel.ts";

const WG = 256;

const UNIFORMS = {
  n: "u32",
  perSample: "u32",
  sampleOffset: "u32",
  seed: "u32",
  stream: "u32",
  step: "u32",
  lane: "u32",
  /** (low, high) for uniform and randint, (mean, std) for normal. */
  a: "f32",
  b: "f32",
} as const;
const LAYOUTS = ["f32", "i32"].map((type) =>
  kernelLayout([{ name: "out", type, access: "read_write" }], UNIFORMS)
);

/** Philox4x32-10 in WGSL (32×32→64 multiply via 16-bit halves: WGSL has no mulhi). */
export const PHILOX_WGSL = `
fn mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}
fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter; var k = key;
  for (var r = 0u; r < 10u; r++) {
    let hi0 = mulhi(0xD2511F53u, c.x); let lo0 = 0xD2511F53u * c.x;
    let hi1 = mulhi(0xCD9E8D57u, c.z); let lo1 = 0xCD9E8D57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}
// 24 random bits mapped into the open interval (0, 1).
fn toUnit(x: u32) -> f32 { return (f32(x >> 8u) + 0.5) * 5.9604644775390625e-8; }
`;

function source(kind: RandomKind): string {
  const outType = kind === "randint" ? "i32" : "f32";
  const value = kind === "uniform"
    ? "a + (b - a) * toUnit(r.x)"
    : kind === "normal"
    ? "a + b * sqrt(-2.0 * log(toUnit(r.x))) * cos(6.283185307179586 * toUnit(r.y))"
    : "i32(floor(a + (b - a) * toUnit(r.x)))";
  const layout = LAYOUTS[outType === "i32" ? 1 : 0];
  return `${layout.header}
${PHILOX_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${layout.lets}
  let i = linearGroup(wid, nwg) * ${WG}u + lid;
  if (i >= n) { return; }
  let counter = vec4<u32>(i % perSample, sampleOffset + i / perSample, step, lane);
  let r = philox(counter, vec2<u32>(seed, stream));
  out[i] = ${value};
}`;
}

/** Fills `out` (n elements, `perSample` per sample) with draws; a, b are (low, high) or (mean, std). */
export function runRandom(
  rt: Runtime,
  kind: RandomKind,
  out: GPUBuffer,
  n: number,
  perSample: number,
  key: RandomKey,
  a: number,
  b: number,
): void {
  const u = LAYOUTS[0].pack({ n, perSample, ...key, lane: key.lane ?? 0, a, b });
  rt.dispatch(source(kind), [out], u, Math.ceil(n / WG));
}
