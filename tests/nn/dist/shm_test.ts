import assert from "node:assert/strict";
import { processAlive, segmentName, SharedSegment } from "../../../nn/dist/shm.ts";
import { uniqueName } from "./_spawn.ts";

Deno.test("shm: two mappings of one name share memory, and unlink removes the name", () => {
  const name = uniqueName("map");
  const a = SharedSegment.open(name, 8192), b = SharedSegment.open(name, 8192);
  try {
    assert.equal(a.name, "/" + name);
    assert.ok(Deno.statSync(`/dev/shm/${name}`).isFile);
    const x = new Float32Array(a.buffer), y = new Float32Array(b.buffer);
    assert.equal(y[100], 0); // fresh segments are zero-filled
    x[100] = 1.5;
    assert.equal(y[100], 1.5);
    Atomics.add(new Int32Array(b.buffer), 7, 3);
    assert.equal(Atomics.load(new Int32Array(a.buffer), 7), 3);
  } finally {
    SharedSegment.unlink(name);
    a.close();
    b.close();
  }
  assert.throws(() => Deno.statSync(`/dev/shm/${name}`));
  a.close(); // idempotent
  assert.throws(() => a.pointer(0), /is closed/);
});

Deno.test("shm: futex waits time out, return at once on a changed word, and wake without blocking the event loop", async () => {
  const name = uniqueName("futex");
  const seg = SharedSegment.open(name, 4096);
  SharedSegment.unlink(name);
  try {
    const word = new Int32Array(seg.buffer);
    let t0 = performance.now();
    await seg.waitAsync(0, 0, 50);
    assert.ok(performance.now() - t0 >= 40, "timed wait returned early");
    t0 = performance.now();
    await seg.waitAsync(0, 1, 5000); // word is 0, not 1: EAGAIN
    seg.waitSync(0, 1, 5000);
    assert.ok(performance.now() - t0 < 1000);
    // A timer on this thread wakes the waiter: the wait runs off the event loop.
    t0 = performance.now();
    setTimeout(() => {
      Atomics.store(word, 0, 1);
      seg.wake(0);
    }, 20);
    await seg.waitAsync(0, 0, 5000);
    assert.equal(Atomics.load(word, 0), 1);
    assert.ok(performance.now() - t0 < 2000, "wake did not arrive");
    assert.throws(() => seg.pointer(4094), /bad futex offset/);
  } finally {
    seg.close();
  }
});

Deno.test("shm: names, sizes and liveness checks", () => {
  assert.equal(segmentName("//abc"), "/abc");
  assert.throws(() => segmentName("a/b"), /invalid segment name/);
  assert.throws(() => SharedSegment.open("x", 0), /invalid size 0/);
  assert.equal(processAlive(Deno.pid), true);
  assert.equal(processAlive(2 ** 22 + 12345), false); // above Linux's pid_max
});
