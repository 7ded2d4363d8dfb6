/** Deterministic test data shared by the multi-process tests and their workers. */

/** Sizes of the arrays all-reduced by the workers (odd sizes; their total spans several small buckets). */
export const SIZES: readonly number[] = [1, 7, 1000, 5003, 33333];

/** Uniform floats in [-1, 1) from a 32-bit seed (mulberry32), rounded to float32. */
export function randomArray(length: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** The arrays rank `rank` contributes to the all-reduce. */
export function rankArrays(rank: number, salt: number): Float32Array[] {
  return SIZES.map((n, i) => randomArray(n, 1000 * salt + 17 * rank + i));
}

/** Concatenates arrays. */
export function concat(arrays: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** Checks what two `_worker.ts reduce` ranks wrote to `dir` against the host computation; returns problems. */
export function checkWorkerOutputs(dir: string, worldSize = 2): string[] {
  const problems: string[] = [];
  const read = (f: string) => new Float32Array(Deno.readFileSync(`${dir}/${f}`).buffer);
  const inputs = Array.from({ length: worldSize }, (_, r) => concat(rankArrays(r, 1)));
  const root = concat(rankArrays(worldSize - 1, 2));
  for (let rank = 0; rank < worldSize; rank++) {
    const got = read(`reduce-${rank}.bin`);
    if (got.length !== root.length) {
      problems.push(`rank ${rank}: ${got.length} elements, expected ${root.length}`);
    }
    let worst = 0;
    for (let i = 0; i < got.length; i++) {
      let mean = 0;
      for (const x of inputs) mean += x[i];
      worst = Math.max(worst, Math.abs(got[i] - mean / worldSize));
    }
    if (!(worst <= 1e-6)) problems.push(`rank ${rank}: all-reduce max |error| ${worst} > 1e-6`);
    const b = read(`broadcast-${rank}.bin`);
    if (b.length !== root.length || b.some((v, i) => v !== root[i])) {
      problems.push(`rank ${rank}: broadcast differs from root`);
    }
    const { scalar } = JSON.parse(Deno.readTextFileSync(`${dir}/scalar-${rank}.json`));
    const want = (worldSize - 1) / 2 + 1.5;
    if (scalar !== want) problems.push(`rank ${rank}: scalar mean ${scalar}, expected ${want}`);
  }
  return problems;
}
