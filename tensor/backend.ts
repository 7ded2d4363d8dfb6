/**
 * The backend seam: the small set of primitives every op is built from. Ops and autograd call only this
 * interface; WGSL and GPU buffers stay inside the WebGPU implementation (`webgpu/backend.ts`).
 */
import type { DType } from "./dtype.ts";
import type { MemoryStats } from "./allocator.ts";
import type { MapOp } from "./webgpu/map.ts";
import type { ReduceOp } from "./webgpu/reduce.ts";
import type { MatmulArgs } from "./webgpu/matmul.ts";
import type { RandomKey, RandomKind } from "./webgpu/random.ts";

/** An opaque device allocation owned by the backend. */
export interface DeviceBuffer {
  readonly size: number;
}

/** An operand of an elementwise op: buffer, dtype, strides over the output shape (null = contiguous). */
export interface MapOperand {
  buffer: DeviceBuffer;
  dtype: DType;
  strides: number[] | null;
}

/** Counters a backend exposes for benchmarks and leak tests. */
export interface BackendStats extends MemoryStats {
  pipelines: number;
  compileMs: number;
  dispatches: number;
  submits: number;
  readbacks: number;
}

/** The primitive operations. Every method records work; only `read` and `sync` wait for the device. */
export interface Backend {
  readonly description: string;
  readonly supportsF16: boolean;
  readonly maxBindingBytes: number;
  alloc(bytes: number): DeviceBuffer;
  free(buf: DeviceBuffer): void;
  upload(buf: DeviceBuffer, data: ArrayBufferView): void;
  read(buf: DeviceBuffer, bytes: number): Promise<ArrayBuffer>;
  sync(): Promise<void>;
  flush(): void;
  stats(): BackendStats;
  resetPeak(): void;
  map(op: MapOp, inputs: MapOperand[], out: DeviceBuffer, outShape: number[], outDtype: DType, s?: [number, number]): void;
  reduce(op: ReduceOp, x: DeviceBuffer, out: DeviceBuffer, outer: number, R: number, inner: number): void;
  matmul(a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, args: MatmulArgs): void;
  strided(dtype: DType, x: DeviceBuffer, out: DeviceBuffer, shape: number[], strides: number[], offset: number): void;
  scatterRegion(
    dtype: DType,
    x: DeviceBuffer,
    out: DeviceBuffer,
    shape: number[],
    strides: number[],
    offset: number,
  ): void;
  pad(dtype: DType, x: DeviceBuffer, out: DeviceBuffer, inShape: number[], before: number[], after: number[], value: number): void;
  indexSelect(
    dtype: DType,
    x: DeviceBuffer,
    idx: DeviceBuffer,
    out: DeviceBuffer,
    outer: number,
    D: number,
    inner: number,
    J: number,
    backward: boolean,
  ): void;
  random(kind: RandomKind, out: DeviceBuffer, n: number, perSample: number, key: RandomKey, a: number, b: number): void;
}

let active: Backend | null = null;

/** Installs the backend ops use (done by `init()`). */
export function setBackend(b: Backend): void {
  active = b;
}

/** The active backend; throws if `await init()` was not called. */
export function backend(): Backend {
  if (!active) throw new Error("tensor backend not initialised: call `await init()` first");
  return active;
}
