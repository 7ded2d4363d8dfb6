/**
 * The Tensor type: a shaped, typed view of one device buffer, with deterministic release. Storage is
 * reference-counted so autograd can keep what backward needs after the user disposed a tensor.
 */
import { backend, type DeviceBuffer } from "./backend/mod.ts";
import { bytesPerElement, type DType, type HostArray } from "./dtype.ts";
import { checkShape, type Shape, sizeOf } from "./shape.ts";
import type { Node } from "./autograd.ts";

/** A reference-counted device buffer. */
export class Storage {
  refs = 1;
  constructor(readonly buffer: DeviceBuffer, readonly bytes: number) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) backend().free(this.buffer);
  }
}

// Scopes: every tensor made while a scope is open is recorded in it and disposed when it closes.
const scopes: Set<Tensor>[] = [];

/** An n-dimensional array on the device. `S` is its shape type (a literal tuple where known). */
export class Tensor<S extends Shape = Shape, D extends DType = DType> {
  /** Set on leaves that collect gradients (parameters) and on results computed from them. */
  requiresGrad = false;
  /** Accumulated gradient (leaves only), same shape as the tensor. */
  grad: Tensor<S, "float32"> | null = null;
  /** The autograd node that produced this tensor, if it was computed from tensors requiring grad. */
  node: Node | null = null;
  #disposed = false;

  constructor(readonly shape: S, readonly dtype: D, readonly storage: Storage) {
    scopes.at(-1)?.add(this);
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Rank (number of dims). */
  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** The device buffer; throws (naming `op`) if the tensor was disposed. */
  buffer(op = "op"): DeviceBuffer {
    if (this.#disposed) throw new Error(`${op}: tensor [${this.shape}] was used after dispose()`);
    return this.storage.buffer;
  }

  /** Reads the values back to the host (the sync point). float16 is widened to float32. */
  async data(): Promise<HostArray<D>> {
    const buf = this.buffer("data()");
    const bytes = await backend().read(buf, this.size * bytesPerElement(this.dtype));
    if (this.dtype === "int32") return new Int32Array(bytes) as HostArray<D>;
    if (this.dtype === "float16") return widenF16(new Uint16Array(bytes)) as HostArray<D>;
    return new Float32Array(bytes) as HostArray<D>;
  }

  /** Reads a one-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): tensor has ${this.size} elements (shape [${this.shape}])`);
    return (await this.data())[0];
  }

  /** Releases this handle; the buffer returns to the pool once nothing (e.g. autograd) still needs it. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.storage.release();
    // The node stays reachable from downstream nodes; only this handle's reference goes.
    this.node?.release();
    scopes.at(-1)?.delete(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Marks a leaf as collecting gradients. Returns itself. */
  requireGrad(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  /** A new handle on the same storage without autograd history. */
  detach(): Tensor<S, D> {
    return new Tensor(this.shape, this.dtype, this.storage.retain());
  }

  /** Removes this tensor from every open scope so it survives them (parameters, gradients, returned state). */
  keep(): this {
    for (const s of scopes) s.delete(this);
    return this;
  }

  /** Back-propagates from this tensor (a scalar unless `grad` is given) into the leaves' `.grad`. */
  backward(grad?: Tensor): void {
    backwardImpl(this, grad);
  }

  toString(): string {
    return `Tensor<${this.dtype}>[${this.shape}]`;
  }
}

// Filled in by autograd.ts (kept out of this file to avoid an import cycle at load time).
let backwardImpl: (t: Tensor, g?: Tensor) => void = () => {
  throw new Error("autograd not loaded");
};

/** Installs the backward implementation (done by autograd.ts). */
export function setBackwardImpl(fn: (t: Tensor, g?: Tensor) => void): void {
  backwardImpl = fn;
}

/** Allocates an uninitialised tensor (its contents are whatever the pooled buffer held). */
export function empty<S extends Shape, D extends DType = "float32">(
  shape: S,
  dtype: D = "float32" as D,
): Tensor<S, D> {
  checkShape("empty", shape);
  const bytes = sizeOf(shape) * bytesPerElement(dtype);
  if (dtype === "float16" && !backend().supportsF16) {
    throw new Error("float16 tensors need the `shader-f16` feature, which this adapter lacks");
  }
  return new Tensor(shape, dtype, new Storage(backend().alloc(bytes), bytes));
}

/**
 * Runs `fn` and disposes every tensor created inside it except those reachable from its result
 * (tensors, arrays and plain objects are searched). Synchronous only: awaits inside would mix scopes.
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Tensor>();
  scopes.push(mine);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) throw new Error("scope(): fn must be synchronous (use scopeAsync)");
  const keep = new Set<Tensor>();
  collectTensors(result, keep);
  for (const t of mine) if (!keep.has(t)) t.dispose();
  // Kept tensors now belong to the enclosing scope, if any.
  const parent = scopes.at(-1);
  if (parent) { for (const t of keep) if (mine.has(t)) parent.add(t); }
  return result;
}

/**
 * Async variant of `scope`: only safe when nothing else creates tensors concurrently (no parallel awaits).
 */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const mine = new Set<Tensor>();
  scopes.push(mine);
  let result: T;
  try {
    result = await fn();
  } finally {
    const i = scopes.lastIndexOf(mine);
    if (i >= 0) scopes.splice(i, 1);
  }
  const keep = new Set<Tensor>();
  collectTensors(result, keep);
  for (const t of mine) if (!keep.has(t)) t.dispose();
  const parent = scopes.at(-1);
  if (parent) { for (const t of keep) if (mine.has(t)) parent.add(t); }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 8 || v === null || typeof v !== "object") return;
  if (v instanceof Tensor) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) { for (const x of v) collectTensors(x, out, depth + 1); }
  else if (v instanceof Map) { for (const x of v.values()) collectTensors(x, out, depth + 1); }
  else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out, depth + 1);
  }
}

function widenF16(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i], s = x & 0x8000 ? -1 : 1, e = (x >> 10) & 0x1f, m = x & 0x3ff;
    out[i] = e === 0
      ? s * m * 2 ** -24
      : e === 31
      ? (m ? NaN : s * Infinity)
      : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}
