/**
 * Host implementation of the Philox4x32-10 generator used on the GPU: the plain-TypeScript reference for
 * the kernel, and the source of host-side draws (permutations) that must match the device keying.
 */

/** Philox4x32-10 of a 4-word counter under a 2-word key. */
export function philox4x32(counter: [number, number, number, number], key: [number, number]): Uint32Array {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let r = 0; r < 10; r++) {
    const p0 = BigInt(0xD2511F53) * BigInt(c0), p1 = BigInt(0xCD9E8D57) * BigInt(c2);
    const hi0 = Number(p0 >> 32n), lo0 = Number(p0 & 0xffffffffn);
    const hi1 = Number(p1 >> 32n), lo1 = Number(p1 & 0xffffffffn);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + 0x9E3779B9) >>> 0;
    k1 = (k1 + 0xBB67AE85) >>> 0;
  }
  return new Uint32Array([c0, c1, c2, c3]);
}

/** 24 random bits mapped into (0, 1), as the kernel does. */
export function toUnit(x: number): number {
  return (Math.fround((x >>> 8) + 0.5)) * 5.9604644775390625e-8;
}

/** FNV-1a hash of a stream name: draws of different streams are independent. */
export function streamId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
