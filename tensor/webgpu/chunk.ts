/**
 * Chunking for tensors larger than one storage binding: ops split their work into ranges of whole units
 * (elements, rows, planes, samples) whose bindings fit the limit and start at aligned byte offsets.
 */
import type { Runtime } from "./runtime.ts";

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Ranges [start, end) covering `count` units, where unit i of buffer k spans `unitBytes[k]` bytes: every
 * range's bindings fit `rt.bindingLimit` and start at multiples of the offset alignment. Throws (naming
 * `op`) when a single aligned step does not fit.
 */
export function unitRanges(rt: Runtime, op: string, count: number, unitBytes: number[]): [number, number][] {
  const limit = rt.bindingLimit, align = rt.offsetAlignment;
  const widest = Math.max(...unitBytes);
  if (count * widest <= limit) return [[0, count]];
  let step = 1;
  for (const b of unitBytes) {
    const need = align / gcd(b, align);
    step = (step * need) / gcd(step, need);
  }
  const per = Math.floor(Math.floor(limit / widest) / step) * step;
  if (per < 1) {
    throw new Error(
      `${op}: one unit of ${widest} bytes (×${step} for alignment) exceeds the storage binding limit of ${limit} bytes`,
    );
  }
  const out: [number, number][] = [];
  for (let s = 0; s < count; s += per) out.push([s, Math.min(count, s + per)]);
  return out;
}

/** A binding of bytes [offset, offset + size) of `buffer`. */
export function sub(buffer: GPUBuffer, offset: number, size: number): GPUBufferBinding {
  return { buffer, offset, size };
}

/**
 * A binding that covers elements [start, start + count) of `buffer` (4-byte elements), starting at the
 * aligned offset at or below `start`; `skew` is the element index of `start` inside the binding.
 */
export function window(
  rt: Runtime,
  buffer: GPUBuffer,
  start: number,
  count: number,
): { binding: GPUBufferBinding; skew: number } {
  const alignEl = rt.offsetAlignment / 4;
  const first = Math.floor(start / alignEl) * alignEl;
  const skew = start - first;
  return { binding: { buffer, offset: first * 4, size: (skew + count) * 4 }, skew };
}
