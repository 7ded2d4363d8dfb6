/**
 * The repo stands alone: no code, test, bench, task, CI script or doc names a path outside the repo. Every
 * relative path that climbs (`..`) is resolved against the folder of the file it appears in and must stay inside
 * the repo root; absolute paths into the development machine's work folder are refused outright.
 */
import assert from "node:assert/strict";
import { dirname, extname, join, relative, resolve } from "node:path";

const ROOT = resolve(new URL("..", import.meta.url).pathname);

/** Folders that are not the project's text (VCS data, dependencies, run outputs). */
const SKIP_DIRS = new Set([".git", "node_modules", "out", "runs"]);
/** Text files that can name a path: code, configs (deno.json tasks), docs and scripts. */
const SCANNED = new Set([".ts", ".js", ".mjs", ".json", ".md", ".sh", ".yml", ".yaml"]);

// Built from parts so that this file does not flag itself.
const UP = "..";
const WORK = "/" + "work/";

/** A path token that starts by climbing: `..` or `../…`, at the start of a string, word or expression. */
const CLIMB = new RegExp(
  `(?:^|[\\s"'\`(=,\\[])(\\${UP[0]}\\${UP[1]}(?:/[^\\s"'\`)\\]}>,;|]*)?)(?=$|[\\s"'\`)\\]}>,;|])`,
  "g",
);
/** An absolute path into the work folder (where the development layout keeps `shared/`). */
const ABSOLUTE_WORK = new RegExp(`(?:^|[^\\w.])(${WORK.replaceAll("/", "\\/")}[^\\s"'\`)]*)`, "g");

/** One path that leaves the repo: where it is and why. */
export interface Escape {
  file: string;
  line: number;
  path: string;
  why: string;
}

/** The paths in `text` (the contents of `file`, relative to `root`) that leave `root`. */
export function findEscapes(text: string, file: string, root: string): Escape[] {
  const out: Escape[] = [];
  const base = dirname(join(root, file));
  text.split("\n").forEach((lineText, i) => {
    for (const m of lineText.matchAll(CLIMB)) {
      // A template placeholder (`${…}`) ends the static part of the path.
      const path = m[1].split("${")[0];
      const rel = relative(root, resolve(base, path));
      if (rel === UP || rel.startsWith(`${UP}/`)) {
        out.push({
          file,
          line: i + 1,
          path: m[1],
          why: `resolves to ${resolve(base, path)}, outside the repo`,
        });
      }
    }
    for (const m of lineText.matchAll(ABSOLUTE_WORK)) {
      out.push({ file, line: i + 1, path: m[1], why: "absolute path into the development work folder" });
    }
  });
  return out;
}

/** Every scanned text file under `root`, relative to it (vendored fixture data excluded: it is data, not paths). */
function scannedFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(join(root, dir))) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory) {
        if (!SKIP_DIRS.has(e.name)) walk(rel);
      } else if (e.isFile) {
        const inFixtureData = rel.startsWith("tests/fixtures/") && !rel.endsWith(".md");
        if ((SCANNED.has(extname(e.name)) && !inFixtureData) || dir === ".ci") files.push(rel);
      }
    }
  };
  walk("");
  return files.sort();
}

Deno.test("standalone: no file in the repo names a path outside it", () => {
  const files = scannedFiles(ROOT);
  for (const must of ["deno.json", ".ci/run", "README.md", "tests/fixtures.ts", "cli/demo.ts"]) {
    assert.ok(files.includes(must), `${must} is scanned`);
  }
  const escapes = files.flatMap((f) => findEscapes(Deno.readTextFileSync(join(ROOT, f)), f, ROOT));
  assert.deepEqual(
    escapes.map((e) => `${e.file}:${e.line}: ${e.path} (${e.why})`),
    [],
    "paths that leave the repo",
  );
});

Deno.test("standalone: the checker flags climbs out of the root and work-folder paths, not in-repo paths", () => {
  const root = "/r";
  const paths = (text: string, file: string) => findEscapes(text, file, root).map((e) => e.path);
  // In-repo relative paths, from a subfolder, are fine.
  assert.deepEqual(paths(`import { add } from "${UP}/tensor/mod.ts";`, "nn/layers.ts"), []);
  assert.deepEqual(paths(`new URL("${UP}/${UP}/config/", import.meta.url)`, "tests/cli/x_test.ts"), []);
  assert.deepEqual(paths(`new URL(\`${UP}/${UP}/\${file}\`, import.meta.url)`, "tests/diffusion/x.ts"), []);
  assert.deepEqual(paths(`cd "$(dirname "$0")/${UP}"`, ".ci/run"), []);
  assert.deepEqual(paths(`"/workspace/dataset"`, "config/environment.json"), []);
  // Climbing out of the root is flagged, however it is written.
  const shared = `${UP}/shared/fixtures`;
  assert.deepEqual(paths(`const d = "${shared}";`, "mod.ts"), [shared]);
  assert.deepEqual(paths(`new URL("${UP}/${UP}/${shared}", import.meta.url)`, "tests/cli/x_test.ts"), [
    `${UP}/${UP}/${shared}`,
  ]);
  assert.deepEqual(paths(`see ${UP}/shared/DESIGN.md for`, "README.md"), [`${UP}/shared/DESIGN.md`]);
  assert.deepEqual(paths(`"test": "deno test ${UP}/other"`, "deno.json"), [`${UP}/other`]);
  assert.deepEqual(paths(`import x from "${UP}";`, "mod.ts"), [UP]);
  // Absolute work-folder paths are flagged anywhere, with their line.
  const e = findEscapes(`a\nLDM=${WORK}shared/fixtures deno task test`, "bench/x.ts", root);
  assert.deepEqual(e.map((x) => [x.line, x.path]), [[2, `${WORK}shared/fixtures`]]);
});
