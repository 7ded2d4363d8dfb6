/** Atomic writes leave no temp file behind, and stale temp files of dead writers are removed (only those). */
import nodeAssert from "node:assert/strict";
import { join } from "node:path";
import { processAlive, removeStaleTempFiles, writeFileAtomic } from "../../../nn/serialization/atomic.ts";

async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

Deno.test("atomic: a write leaves only the target", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ldm-atomic-" });
  try {
    await writeFileAtomic(join(dir, "a.safetensors"), new Uint8Array([1, 2, 3]));
    nodeAssert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.safetensors"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomic: stale temp files of dead processes are removed; live writers' and look-alikes are kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ldm-atomic-" });
  try {
    const dead = await deadPid();
    nodeAssert.equal(processAlive(dead), false, `pid ${dead} should be gone`);
    nodeAssert.equal(processAlive(Deno.pid), true);
    const stale = `.diffusion_unet_last.safetensors.tmp-${dead}-0a1b2c3d`;
    const keep = [
      `.autoencoder.safetensors.tmp-${Deno.pid}-12345678`, // this process is writing it
      `.autoencoder.safetensors.tmp-1-abcdef01`, // pid 1 is alive
      `autoencoder.safetensors.tmp-${dead}-abcdef01`, // no leading dot: not our pattern
      `.autoencoder.safetensors.tmp-${dead}-ABCDEF01`, // not lower-case hex
      `.autoencoder.safetensors.tmp-${dead}-abcdef012`, // 9 digits
      `.tmp-${dead}-abcdef01`, // no target name
      "notes.tmp",
      "autoencoder.safetensors",
    ];
    for (const n of [stale, ...keep]) await Deno.writeTextFile(join(dir, n), "x");
    await Deno.mkdir(join(dir, `.models.tmp-${dead}-abcdef01`)); // a folder is never ours
    const removed = await removeStaleTempFiles(dir);
    nodeAssert.deepEqual(removed, [join(dir, stale)]);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    nodeAssert.deepEqual(left, [...keep, `.models.tmp-${dead}-abcdef01`].sort());
    nodeAssert.deepEqual(await removeStaleTempFiles(join(dir, "missing")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
