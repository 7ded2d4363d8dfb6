import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";

Deno.test("device: created with the adapter's maxima and probed features", async () => {
  const d = await T.getDevice();
  assert.equal(d.limits.maxStorageBufferBindingSize, d.adapter.limits.maxStorageBufferBindingSize);
  assert.equal(d.limits.maxBufferSize, d.adapter.limits.maxBufferSize);
  assert.equal(typeof d.features.shaderF16, "boolean");
  assert.ok(d.description.length > 0);
});

Deno.test("no adapter: the demo prints what to install and exits non-zero", async () => {
  // dx12 does not exist on Linux, so requestAdapter() returns null there.
  if (Deno.build.os !== "linux") return;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../cli/demo.ts", import.meta.url).pathname],
    env: { DENO_WEBGPU_BACKEND: "dx12" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /No WebGPU adapter found.*mesa-vulkan-drivers/);
});
