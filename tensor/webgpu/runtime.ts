/**
 * WebGPU execution: pipeline cache, batched command recording and the only sync point (readback).
 * Every dispatch goes into one open compute pass; `flush()` submits it. Uniforms for all dispatches of a
 * batch are packed into one arena buffer written just before the submit.
 */
import { BufferPool } from "./allocator.ts";
import type { Device } from "./device.ts";

/** Counters for benchmarks: pipelines compiled, time spent compiling, dispatches and submits recorded. */
export interface RuntimeStats {
  pipelines: number;
  compileMs: number;
  dispatches: number;
  submits: number;
  readbacks: number;
}

/** Uniform slot size: 64 u32 words, declared and read by name through `kernelLayout` (kernel.ts). */
export const UNIFORM_WORDS = 64;
const SLOT_BYTES = 256;
const ARENA_SLOTS = 4096;

/** The WebGPU runtime bound to one device. */
export class Runtime {
  readonly pool: BufferPool;
  readonly stats: RuntimeStats = { pipelines: 0, compileMs: 0, dispatches: 0, submits: 0, readbacks: 0 };
  #pipelines = new Map<string, GPUComputePipeline>();
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #arenaCpu = new Uint32Array(ARENA_SLOTS * UNIFORM_WORDS);
  #arenaGpu: GPUBuffer;
  #slots = 0;
  #maxPerDim: number;

  /** Largest storage binding a kernel may use (the device limit; tests lower it to exercise chunked paths). */
  bindingLimit: number;
  /** Required alignment of binding offsets. */
  readonly offsetAlignment: number;

  constructor(readonly device: Device) {
    this.bindingLimit = device.limits.maxStorageBufferBindingSize;
    this.offsetAlignment = device.limits.minStorageBufferOffsetAlignment;
    this.pool = new BufferPool(device.gpu);
    this.#arenaGpu = device.gpu.createBuffer({
      size: ARENA_SLOTS * SLOT_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.#maxPerDim = device.limits.maxComputeWorkgroupsPerDimension;
  }

  get gpu(): GPUDevice {
    return this.device.gpu;
  }

  /** The compiled pipeline for a WGSL source (cached by source text). */
  pipeline(source: string): GPUComputePipeline {
    let p = this.#pipelines.get(source);
    if (!p) {
      const t0 = performance.now();
      const module = this.gpu.createShaderModule({ code: source });
      p = this.gpu.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
      this.stats.compileMs += performance.now() - t0;
      this.stats.pipelines++;
      this.#pipelines.set(source, p);
    }
    return p;
  }

  /**
   * Records one dispatch. `buffers` bind to bindings 0..n-1; `uniforms` (≤ 64 u32) bind to binding n.
   * `groups` is the total workgroup count, split over x/y to respect the per-dimension limit.
   */
  dispatch(
    source: string,
    buffers: (GPUBuffer | GPUBufferBinding)[],
    uniforms: ArrayLike<number>,
    groups: number,
  ): void {
    if (groups <= 0) return;
    // An oversized binding is a silent validation error (nothing runs): refuse it loudly instead.
    const resources = buffers.map((b, binding) => {
      const r: GPUBufferBinding = b instanceof GPUBuffer ? { buffer: b } : b;
      const size = r.size ?? r.buffer.size - (r.offset ?? 0);
      if (size > this.bindingLimit) {
        throw new Error(
          `kernel binding ${binding} spans ${size} bytes, over the storage binding limit of ${this.bindingLimit} bytes: ` +
            `this op has no chunked path for tensors this large`,
        );
      }
      return r;
    });
    if (this.#slots >= ARENA_SLOTS) this.flush();
    const pipeline = this.pipeline(source);
    const slot = this.#slots++;
    this.#arenaCpu.set(uniforms as ArrayLike<number>, slot * UNIFORM_WORDS);
    const entries: GPUBindGroupEntry[] = resources.map((resource, binding) => ({ binding, resource }));
    entries.push({
      binding: buffers.length,
      resource: { buffer: this.#arenaGpu, offset: slot * SLOT_BYTES, size: SLOT_BYTES },
    });
    const bindGroup = this.gpu.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.#openPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const x = Math.min(groups, this.#maxPerDim);
    const y = Math.ceil(groups / x);
    if (y > this.#maxPerDim) throw new Error(`dispatch of ${groups} workgroups exceeds the device limit`);
    pass.dispatchWorkgroups(x, y);
    this.stats.dispatches++;
  }

  /** Records a buffer-to-buffer copy (ends the open compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.#closePass();
    this.#encoder ??= this.gpu.createCommandEncoder();
    this.#encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far (does not wait). */
  flush(): void {
    this.#closePass();
    if (this.#slots > 0) {
      this.gpu.queue.writeBuffer(this.#arenaGpu, 0, this.#arenaCpu, 0, this.#slots * UNIFORM_WORDS);
      this.#slots = 0;
    }
    if (this.#encoder) {
      this.gpu.queue.submit([this.#encoder.finish()]);
      this.#encoder = null;
      this.stats.submits++;
    }
    this.pool.collect();
  }

  /**
   * Writes host data into a buffer, ordered after everything recorded so far: pending commands are submitted
   * first because queue writes run before any not-yet-submitted command buffer.
   */
  upload(buf: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.flush();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // writeBuffer needs a multiple of 4 bytes.
    if (bytes.byteLength % 4 !== 0) {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.gpu.queue.writeBuffer(buf, byteOffset, padded);
    } else {
      this.gpu.queue.writeBuffer(buf, byteOffset, bytes as Uint8Array<ArrayBuffer>);
    }
    // Queue-write staging memory is held until the next submit.
    this.gpu.queue.submit([]);
  }

  /** Reads `bytes` bytes from a buffer: the one GPU→CPU sync point. */
  async read(buf: GPUBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.gpu.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      this.copy(buf, byteOffset, staging, 0, size);
      this.flush();
      this.stats.readbacks++;
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0, bytes);
    } finally {
      staging.destroy();
    }
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.gpu.queue.onSubmittedWorkDone();
  }

  #openPass(): GPUComputePassEncoder {
    this.#encoder ??= this.gpu.createCommandEncoder();
    this.#pass ??= this.#encoder.beginComputePass();
    return this.#pass;
  }

  #closePass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }
}
