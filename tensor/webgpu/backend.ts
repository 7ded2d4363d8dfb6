/** The WebGPU implementation of the backend seam. */
import type { Backend, BackendStats, DeviceBuffer, MapOperand } from "../backend.ts";
import type { DType } from "../dtype.ts";
import type { Device } from "../device.ts";
import { Runtime } from "./runtime.ts";
import { type MapOp, runMap } from "./map.ts";
import { type ReduceOp, runReduce } from "./reduce.ts";
import { type MatmulArgs, runMatmul } from "./matmul.ts";
import { runIndexSelect, runIndexSelectBackward, runPad, runScatterRegion, runStrided } from "./movement.ts";
import { type RandomKey, type RandomKind, runRandom } from "./random.ts";

const gb = (b: DeviceBuffer) => b as GPUBuffer;

/** Backend that records WGSL compute dispatches on one WebGPU device. */
export class WebGpuBackend implements Backend {
  readonly rt: Runtime;
  constructor(readonly device: Device) {
    this.rt = new Runtime(device);
  }
  get description(): string {
    return this.device.description;
  }
  get supportsF16(): boolean {
    return this.device.features.shaderF16;
  }
  get maxBindingBytes(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }
  alloc(bytes: number): DeviceBuffer {
    if (bytes > this.maxBindingBytes) {
      throw new Error(
        `allocation of ${bytes} bytes exceeds the device's storage binding limit (${this.maxBindingBytes} bytes)`,
      );
    }
    return this.rt.pool.acquire(bytes);
  }
  free(buf: DeviceBuffer): void {
    this.rt.pool.release(gb(buf));
  }
  upload(buf: DeviceBuffer, data: ArrayBufferView): void {
    this.rt.upload(gb(buf), data);
  }
  read(buf: DeviceBuffer, bytes: number): Promise<ArrayBuffer> {
    return this.rt.read(gb(buf), 0, bytes);
  }
  sync(): Promise<void> {
    return this.rt.sync();
  }
  flush(): void {
    this.rt.flush();
  }
  stats(): BackendStats {
    return { ...this.rt.pool.stats(), ...this.rt.stats };
  }
  resetPeak(): void {
    this.rt.pool.resetPeak();
  }
  map(op: MapOp, inputs: MapOperand[], out: DeviceBuffer, outShape: number[], outDtype: DType, s?: [number, number]) {
    runMap(this.rt, op, inputs.map((x) => ({ ...x, buffer: gb(x.buffer) })), gb(out), outShape, outDtype, s);
  }
  reduce(op: ReduceOp, x: DeviceBuffer, out: DeviceBuffer, outer: number, R: number, inner: number) {
    runReduce(this.rt, op, gb(x), gb(out), outer, R, inner, (b) => this.rt.pool.acquire(b), (b) => this.rt.pool.release(b));
  }
  matmul(a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, args: MatmulArgs) {
    runMatmul(this.rt, gb(a), gb(b), gb(c), args);
  }
  strided(dtype: DType, x: DeviceBuffer, out: DeviceBuffer, shape: number[], strides: number[], offset: number) {
    runStrided(this.rt, dtype, gb(x), gb(out), shape, strides, offset);
  }
  scatterRegion(dtype: DType, x: DeviceBuffer, out: DeviceBuffer, shape: number[], strides: number[], offset: number) {
    runScatterRegion(this.rt, dtype, gb(x), gb(out), shape, strides, offset);
  }
  pad(dtype: DType, x: DeviceBuffer, out: DeviceBuffer, inShape: number[], before: number[], after: number[], v: number) {
    runPad(this.rt, dtype, gb(x), gb(out), inShape, before, after, v);
  }
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
  ) {
    (backward ? runIndexSelectBackward : runIndexSelect)(this.rt, dtype, gb(x), gb(idx), gb(out), outer, D, inner, J);
  }
  random(kind: RandomKind, out: DeviceBuffer, n: number, perSample: number, key: RandomKey, a: number, b: number) {
    runRandom(this.rt, kind, gb(out), n, perSample, key, a, b);
  }
}
