/**
 * Host-side seeded random numbers for parameter initialisation (PyTorch's default schemes). Init runs on
 * the host once per model, so a fast 32-bit generator (xoshiro128**) is enough; draws are reproducible
 * from the seed and the order in which layers are built.
 */
import { backend, type Tensor } from "../tensor/mod.ts";

/** A seeded generator of uniform and normal draws on the host. */
export class HostRng {
  #s = new Uint32Array(4);
  #spare: number | null = null;

  /** Seeds the state with splitmix32 so nearby seeds give unrelated streams. */
  constructor(seed = 0) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  /** Next 32 random bits. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Standard normal (Box–Muller, pairs cached). */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    const u1 = 1 - this.next(), u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** `n` uniform values in [low, high). */
  uniformArray(n: number, low: number, high: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = low + (high - low) * this.next();
    return out;
  }

  /** `n` normal values N(mean, std²). */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let defaultRng = new HostRng(0);

/** Reseeds the process-wide init generator used by layers built without an explicit `rng` (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultRng = new HostRng(seed);
}

/** The process-wide init generator. */
export function globalRng(): HostRng {
  return defaultRng;
}

/**
 * PyTorch's `fan_in` of a weight: dim 1 times the receptive field (dims 2..). For a transposed conv
 * (weight [Cin, Cout, k…]) this is Cout·k³, as PyTorch computes it.
 */
export function fanIn(shape: readonly number[]): number {
  if (shape.length < 2) throw new Error(`fanIn: weight needs rank >= 2, got [${shape}]`);
  let f = shape[1];
  for (let i = 2; i < shape.length; i++) f *= shape[i];
  return f;
}

/**
 * PyTorch's default Conv/Linear init: weight kaiming_uniform(a=√5) = U(±1/√fan_in), bias U(±1/√fan_in).
 * Returns host arrays for the weight and (when `biasSize` > 0) the bias.
 */
export function defaultInit(
  weightShape: readonly number[],
  biasSize: number,
  rng: HostRng = defaultRng,
): { weight: Float32Array; bias: Float32Array | null } {
  const bound = 1 / Math.sqrt(fanIn(weightShape));
  const n = weightShape.reduce((a, b) => a * b, 1);
  const weight = rng.uniformArray(n, -bound, bound);
  const bias = biasSize > 0 ? rng.uniformArray(biasSize, -bound, bound) : null;
  return { weight, bias };
}

/** Overwrites a tensor's values in place from host data (custom init schemes, zero-init layers). */
export function setTensorData(t: Tensor, data: Float32Array): void {
  if (data.length !== t.size) throw new Error(`setTensorData: ${data.length} values for [${t.shape}]`);
  backend().upload(t.buffer("setTensorData"), data);
}
