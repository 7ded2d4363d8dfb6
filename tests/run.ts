/**
 * `deno task test`: the whole suite once per backend, WASM always and WebGPU when an adapter exists, then one
 * combined summary line ("ok | N passed | N failed | N ignored"). Extra arguments go to `deno test`.
 */
const adapter = typeof navigator !== "undefined" && navigator.gpu
  ? await navigator.gpu.requestAdapter()
  : null;
const backends = adapter ? ["wasm", "webgpu"] : ["wasm"];
if (!adapter) console.log("tests: no WebGPU adapter, running the suite on the WASM backend only");

const totals = { passed: 0, failed: 0, ignored: 0 };
let ok = true;
for (const backend of backends) {
  console.log(`\n=== tests on the ${backend} backend ===`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--parallel", ...(Deno.args.length ? Deno.args : ["tests/"])],
    env: { LDM_BACKEND: backend },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
  }
  const status = await child.status;
  // deno test's last line: "ok | 12 passed | 0 failed | 1 ignored (3s)"
  // deno-lint-ignore no-control-regex -- strips the ANSI colour codes of deno test's output
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
  const m = [
    ...plain.matchAll(
      /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \| (\d+) ignored)?/g,
    ),
  ].at(-1);
  if (!m) {
    console.log(`tests: the ${backend} run ended without a summary (exit code ${status.code})`);
    ok = false;
    continue;
  }
  totals.passed += Number(m[1]);
  totals.failed += Number(m[2]);
  totals.ignored += Number(m[3] ?? 0);
  ok &&= status.success;
}
console.log(
  `\n${ok && totals.failed === 0 ? "ok" : "FAILED"} | ${totals.passed} passed | ${totals.failed} failed | ` +
    `${totals.ignored} ignored (backends: ${backends.join(", ")})`,
);
Deno.exit(ok && totals.failed === 0 ? 0 : 1);
