/**
 * The WASM backend's own failure paths (whatever backend the rest of the suite runs on): a worker that throws
 * or dies fails the op with its message and later calls still work; running out of memory names the bytes and
 * the remedy.
 */
import assert from "node:assert/strict";
import { WasmBackend } from "../../tensor/wasm/backend.ts";

async function roundTrip(be: WasmBackend): Promise<void> {
  const buf = be.alloc(16);
  be.upload(buf, new Float32Array([1, 2, 3, 4]));
  assert.deepEqual(Array.from(new Float32Array(await be.read(buf, 16))), [1, 2, 3, 4]);
  be.free(buf);
}

Deno.test("wasm pool: a worker that throws fails the op with its message; the next op runs", async () => {
  const be = await WasmBackend.create({ threads: 2 });
  await be.workers.warm();
  be.failWorkersForTests("throw");
  await assert.rejects(be.sync(), /test throw: wasm worker 1 failed: test failure on thread 1/);
  await roundTrip(be);
  be.workers.close();
});

Deno.test("wasm pool: a worker that dies fails the op, and no later call hangs", async () => {
  const be = await WasmBackend.create({ threads: 2 });
  await be.workers.warm();
  be.failWorkersForTests("die");
  await assert.rejects(be.sync(), /test die: wasm worker 1 died: .*crashed \(test\)/);
  await roundTrip(be);
  // The slot is started again for the next parallel step.
  await be.workers.warm();
  be.failWorkersForTests("throw");
  await assert.rejects(be.sync(), /worker 1 failed/);
  be.workers.close();
});

Deno.test("wasm memory: an allocation past the limit names the bytes and the remedy", async () => {
  const be = await WasmBackend.create({ threads: 1, maxMemoryBytes: 64 << 20 });
  assert.throws(
    () => be.alloc(100 << 20),
    /out of memory allocating 104857600 bytes.*4 GiB.*--backend webgpu/,
  );
  await roundTrip(be);
  be.workers.close();
});
