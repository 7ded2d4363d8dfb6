import assert from "node:assert/strict";
import * as T from "../../tensor/mod.ts";

const hasAdapter = typeof navigator !== "undefined" && !!navigator.gpu &&
  (await navigator.gpu.requestAdapter()) !== null;

Deno.test({
  name: "device: created with the adapter's maxima and probed features",
  ignore: !hasAdapter,
  fn: async () => {
    const d = await T.getDevice();
    assert.equal(d.limits.maxStorageBufferBindingSize, d.adapter.limits.maxStorageBufferBindingSize);
    assert.equal(d.limits.maxBufferSize, d.adapter.limits.maxBufferSize);
    assert.equal(typeof d.features.shaderF16, "boolean");
    assert.ok(d.description.length > 0);
  },
});

/** Runs a snippet in a fresh process where requestAdapter() finds nothing (dx12 does not exist on Linux). */
async function withoutAdapter(code: string, env: Record<string, string> = {}) {
  const mod = new URL("../../tensor/mod.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `import * as T from "${mod}";\n${code}`],
    env: { DENO_WEBGPU_BACKEND: "dx12", LDM_BACKEND: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test({
  name: "no adapter: auto picks the WASM backend, no Vulkan needed",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await withoutAdapter(
      `const b = await T.init(); const x = T.tensor(new Float32Array([1, 2, 3]), [3]);
       console.log(b.kind, b.threads, Array.from(await T.mul(x, x).data()).join(","));`,
      { LDM_THREADS: "2" },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "wasm 2 1,4,9");
  },
});

Deno.test({
  name: "no adapter: --backend webgpu says what to install; an unknown backend lists the valid ones",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await withoutAdapter(`await T.init({ backend: "webgpu" });`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No WebGPU adapter found.*mesa-vulkan-drivers/);
    const bad = await withoutAdapter(`await T.init();`, { LDM_BACKEND: "cuda" });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /LDM_BACKEND: unknown backend "cuda"; valid values are auto, webgpu, wasm/);
  },
});
