/**
 * MT19937 with numpy's legacy `RandomState` semantics (init_genrand seeding, masked-rejection bounded
 * integers, Fisher-Yates shuffle) and PyTorch's CPU `randperm` on the same engine.
 */

const N = 624;
const M = 397;

/** The Mersenne Twister MT19937 (32-bit outputs), seeded like `numpy.random.RandomState(seed)`. */
export class MT19937 {
  private readonly mt = new Uint32Array(N);
  private index = N;

  /** Seeds with `init_genrand(seed)`; `seed` must be an integer in [0, 2^32). */
  constructor(seed: number) {
    this.reseed(seed);
  }

  /** Restarts the stream from `seed` (as a fresh generator would). Training reseeds crops per epoch. */
  reseed(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`MT19937: seed must be an integer in [0, 2^32 - 1], got ${seed}`);
    }
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i, modulo 2^32 without losing precision.
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  /** Regenerates the 624-word state (the MT19937 twist). */
  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ ((y & 1) ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** Next raw 32-bit output (genrand_int32), as an unsigned number. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits (numpy `random_sample`). */
  random(): number {
    const a = this.nextUint32() >>> 5, b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [0, max] by masked rejection on 32-bit outputs (numpy `random_interval`); max < 2^32. */
  interval(max: number): number {
    if (max === 0) return 0;
    if (!(max > 0 && max <= 0xffffffff)) throw new Error(`MT19937: interval max ${max} out of range`);
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let v: number;
    do {
      v = (this.nextUint32() & mask) >>> 0;
    } while (v > max);
    return v;
  }

  /** `RandomState.randint(low, high)` (high exclusive, default int64 dtype): `low` when the range is one value. */
  randint(low: number, high: number): number {
    if (!(high > low)) throw new Error(`MT19937: randint needs low < high, got ${low}, ${high}`);
    return low + this.interval(high - low - 1);
  }

  /** `RandomState.shuffle` of a 1-D array in place (legacy Fisher-Yates from the end). */
  shuffle<T>(a: T[] | Int32Array): void {
    for (let i = a.length - 1; i >= 1; i--) {
      const j = this.interval(i);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /** Standard normal draw (Box-Muller on `random()`; not numpy's gauss stream, used for phantoms only). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/**
 * PyTorch CPU `torch.randperm(n, generator=torch.Generator().manual_seed(seed))` as implemented in PyTorch 1.x
 * (`randperm_cpu`: for i in 0..n-2, z = mt() % (n - i), swap r[i] and r[i + z]); seed < 2^32.
 */
export function torchRandperm(n: number, seed: number): number[] {
  const rng = new MT19937(seed >>> 0);
  const r = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n - 1; i++) {
    const z = rng.nextUint32() % (n - i);
    const t = r[i];
    r[i] = r[i + z];
    r[i + z] = t;
  }
  return r;
}
