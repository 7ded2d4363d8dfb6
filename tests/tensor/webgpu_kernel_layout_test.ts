// kernelLayout (tensor/webgpu/kernel.ts): named uniforms land in the slot words the generated WGSL reads.
// Host-only: the kernels that use it are checked on the device by the op tests.
import assert from "node:assert/strict";
import { kernelLayout } from "../../tensor/webgpu/kernel.ts";

const layout = kernelLayout([{ name: "X", type: "f32" }, {
  name: "Y",
  type: "vec4<f32>",
  access: "read_write",
}], {
  n: "u32",
  pad: "i32",
  scale: "f32",
  dims: ["u32", 3],
  skews: ["i32", 2],
  last: "u32",
});

Deno.test("kernelLayout packs names into consecutive words: u32, i32 two's complement, f32 bits, arrays", () => {
  const u = layout.pack({ n: 4_000_000_000, pad: -2, scale: 0.1, dims: [5, 6, 7], skews: [-1, 9], last: 3 });
  const f = new Float32Array(u.buffer);
  assert.equal(u.length, 9);
  assert.equal(u[0], 4_000_000_000);
  assert.equal(new Int32Array(u.buffer)[1], -2);
  assert.equal(f[2], Math.fround(0.1));
  assert.deepEqual([...u.slice(3, 6)], [5, 6, 7]);
  assert.deepEqual([...new Int32Array(u.buffer).slice(6, 8)], [-1, 9]);
  assert.equal(u[8], 3);
  // A shorter array leaves the rest zero (ranks below the maximum).
  assert.deepEqual([...layout.pack({ n: 1, pad: 0, scale: 0, dims: [2], skews: [], last: 0 }).slice(3, 6)], [
    2,
    0,
    0,
  ]);
});

Deno.test("kernelLayout's WGSL reads each uniform from the word it was packed into", () => {
  assert.match(layout.lets, /let n = params\[0u\]\[0u\];/);
  assert.match(layout.lets, /let pad = bitcast<i32>\(params\[0u\]\[1u\]\);/);
  assert.match(layout.lets, /let scale = bitcast<f32>\(params\[0u\]\[2u\]\);/);
  assert.match(layout.lets, /let last = params\[2u\]\[0u\];/);
  assert.doesNotMatch(layout.lets, /dims|skews/);
  assert.match(layout.header, /fn dims\(k: u32\) -> u32 \{ let i = 3u \+ k;/);
  assert.match(layout.header, /fn skews\(k: u32\) -> i32 \{ let i = 6u \+ k; return bitcast<i32>/);
  assert.match(layout.header, /@binding\(0\) var<storage, read> X: array<f32>;/);
  assert.match(layout.header, /@binding\(1\) var<storage, read_write> Y: array<vec4<f32>>;/);
  assert.match(layout.header, /@binding\(2\) var<uniform> params: array<vec4<u32>, 16>;/);
});

Deno.test("kernelLayout rejects a missing value, an over-long array and uniforms beyond the slot", () => {
  assert.throws(
    () =>
      layout.pack(
        { n: 1, pad: 0, scale: 0, dims: [1, 2, 3] } as unknown as Parameters<typeof layout.pack>[0],
      ),
    /kernel uniform 'skews' has no value/,
  );
  assert.throws(
    () => layout.pack({ n: 1, pad: 0, scale: 0, dims: [1, 2, 3, 4], skews: [], last: 0 }),
    /kernel uniform 'dims' takes 3 values, got 4/,
  );
  assert.throws(() => kernelLayout([], { big: ["u32", 65] }), /take 65 words, over the slot of 64/);
});
