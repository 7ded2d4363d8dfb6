/**
 * Writes as/microkernels.ts: the register-blocked SIMD micro-kernels of the GEMM core, unrolled here instead of
 * by hand (AssemblyScript has no way to loop over named accumulators). Run by `deno task build:wasm` before the
 * compiler, so the committed gemm.wasm always matches this generator.
 */

const MR = 6, NR = 8;

/** `n` lines of `f(i)`, indented. */
const each = (n: number, f: (i: number) => string, indent = "  ") =>
  Array.from({ length: n }, (_, i) => indent + f(i)).join("\n");

/**
 * A rows×8 tile (rows 4 or 6) with A rows 0–3 from one v128 load rotated in place (see directKernel): the
 * accumulators, one k step (the k-th 8 B values at src; A advanced) and the stores to C (adding to it or not).
 */
function rotatedTile(rows: number) {
  const d = (j: number, h: number) => `d${j}${h}`, e = (r: number, h: number) => `e${r}${h}`;
  const accs: string[] = [];
  for (let j = 0; j < 4; j++) accs.push(`${d(j, 0)} = f32x4.splat(0), ${d(j, 1)} = f32x4.splat(0)`);
  for (let r = 4; r < rows; r++) accs.push(`${e(r, 0)} = f32x4.splat(0), ${e(r, 1)} = f32x4.splat(0)`);
  const step = (src: string) => {
    const body: string[] = [`const b0 = v128.load(${src}), b1 = v128.load(${src}, 16);`];
    for (let r = 4; r < rows; r++) {
      body.push(
        `${r === 4 ? "let " : ""}as = v128.load32_splat(a, ${4 * r});`,
        `${e(r, 0)} = f32x4.relaxed_madd(as, b0, ${e(r, 0)});`,
        `${e(r, 1)} = f32x4.relaxed_madd(as, b1, ${e(r, 1)});`,
      );
    }
    body.push("let av = v128.load(a);");
    for (let j = 0; j < 4; j++) {
      if (j > 0) body.push("av = v128.shuffle<f32>(av, av, 1, 2, 3, 0);");
      body.push(
        `${d(j, 0)} = f32x4.relaxed_madd(av, b0, ${d(j, 0)});`,
        `${d(j, 1)} = f32x4.relaxed_madd(av, b1, ${d(j, 1)});`,
      );
    }
    return [...body, `a += ${4 * MR};`];
  };
  // Row r, lane i lives in d[(r − i) mod 4], lane i: lanes 0, 2 and 1, 3 picked in pairs, then merged.
  const straighten = (r: number, h: number) => {
    const m = (i: number) => d((r - i + 4) % 4, h);
    return `v128.shuffle<f32>(v128.shuffle<f32>(${m(0)}, ${m(2)}, 0, 0, 6, 6), ` +
      `v128.shuffle<f32>(${m(1)}, ${m(3)}, 1, 1, 7, 7), 0, 5, 2, 7)`;
  };
  const stores = (add: boolean) => {
    const out: string[] = [];
    for (let r = 0; r < rows; r++) {
      const at = r === 0 ? "c" : `c + ${r} * ldc`, off = (h: number) => (h ? ", 16" : "");
      for (let h = 0; h < 2; h++) {
        const v = r < 4 ? straighten(r, h) : e(r, h);
        out.push(`v128.store(${at}, ${add ? `f32x4.add(${v}, v128.load(${at}${off(h)}))` : v}${off(h)});`);
      }
    }
    return out;
  };
  return { accs: `let ${accs.join(",\n    ")};`, step, stores };
}

/** `lines`, each indented by n spaces, one string. */
const indent = (lines: string[], n: number) => lines.map((l) => " ".repeat(n) + l).join("\n");

/**
 * The packed 6×8 GEMM micro-kernel: C (+)= A panel · B panel, A packed [kc][MR], B [kc][NR], kc ≥ 0. Shaped as
 * the direct kernels (see directKernel): 5 loads (each bounds-checked by V8) feed 12 FMAs, not 8 for 8 with a
 * broadcast per row; 15 xmm. The k loop counts down in pairs of steps (a constant-trip inner loop V8 unrolls:
 * half the loop overhead), then one odd step. On one core, L1-resident: 41 → 55 GFLOP/s (one step per trip: 51).
 */
function gemmKernel(): string {
  const { accs, step, stores } = rotatedTile(MR);
  const body = [...step("b"), `b += ${4 * NR};`];
  return `/** C (+)= packed A (MR-row panel) · packed B (NR-column panel), kc steps: see gen_microkernels.ts gemmKernel. */
// @ts-ignore: decorator
@inline export function kernel${MR}x${NR}(a: usize, b: usize, kc: i32, c: usize, ldc: usize, acc: bool): void {
  ${accs}
  for (let k = kc >> 1; k > 0; k--) {
    for (let u = 0; u < 2; u++) {
${indent(body, 6)}
    }
  }
  if (kc & 1) {
${indent(body, 4)}
  }
  if (acc) {
${indent(stores(true), 4)}
  } else {
${indent(stores(false), 4)}
  }
}
`;
}

/**
 * A rows×8 direct-convolution micro-kernel (rows 4 or 6): C += packed A · B read straight from the input, the k-th
 * 8 B values at base + offs[k] (4-byte units); kc ≥ 1, a multiple of `group`.
 *
 * Without a trap handler (Deno) V8 bounds-checks every wasm load (lea, cmp, jae), so loads, not FMAs, set the
 * pace: rows 0–3 come from one v128 load of A rotated in place (one vpshufd each) instead of 4 broadcasts.
 * Accumulator dj then holds, in lane i, C[(i + j) mod 4][i] (a diagonal of the 4×4 block), straightened once at
 * the end; rows 4 and 5 are broadcast. 12 accumulators + 2 B + 1 A = 15 xmm, V8's whole budget on x64.
 * With group > 1 the taps come in runs of `group` consecutive voxels (a kernel's w taps): one offset per run, each
 * tap 4 bytes on, in an inner loop of constant trip count that V8 unrolls (unrolled here instead, binaryen nests
 * the FMA chains across taps, hoists every tap's A, and V8 spills). Loops count down: one branch per step.
 * On one core, L1-resident: 9 loads per k 38, this kernel 45 (group 1) and 58 (group 3) GFLOP/s.
 */
function directKernel(rows: 4 | 6, group: number): string {
  const { accs, step, stores } = rotatedTile(rows);
  const loop = group === 1
    ? ["const src = base + (<usize>load<i32>(offs) << 2);", ...step("src"), "offs += 4;"]
    : [
      "let src = base + (<usize>load<i32>(offs) << 2);",
      `for (let u = 0; u < ${group}; u++) {`,
      ...[...step("src"), "src += 4;"].map((l) => "  " + l),
      "}",
      `offs += ${4 * group};`,
    ];
  return `/** C += packed A (6-row panel, its first ${rows} rows) · direct B, taps in runs of ${group}: see directKernel. */
// @ts-ignore: decorator
@inline export function kernelDirect${rows}x${NR}g${group}(a: usize, offs: usize, base: usize, kc: i32, c: usize, ldc: usize): void {
  ${accs}
  let k = kc;
  do {
${indent(loop, 4)}
  } while ((k -= ${group}) > 0);
${indent(stores(true), 2)}
}
`;
}

/** Tap runs the direct kernels come in: 3 (a 3-wide kernel's w taps) or 1 (any other width). */
export const DIRECT_GROUPS = [3, 1];

/**
 * Rows × columns of the weight-gradient dot tile (co channels × im2col rows). 12 accumulators + 2 dy + 1 x = 15
 * xmm: the 4×3 tile needed 16, and V8 then kept one accumulator on the stack, its chain running through a store
 * and a reload every step (27 against 42 GFLOP/s for this one on one core, L1-resident).
 */
export const DOT_CO = 2, DOT_R = 6;

/**
 * The weight-gradient dot tile: per (dy row i, x row j) an f32x4 of partial sums over voxel lanes (kept at
 * part between calls), advanced over `rows` rows of n voxels each (n a multiple of 4). dy row i is channel
 * min(c + i, cLast), coBytes apart, from dy; x row j is im2col row min(r + j, rLast), at x + 4·offs[that row];
 * the next row dStep / xStep bytes on. (Rows past the block's edge repeat its last; their sums are never read.)
 */
function dotKernel(): string {
  const acc = (i: number, j: number) => `s${i}${j}`;
  const all: [number, number][] = [];
  for (let i = 0; i < DOT_CO; i++) for (let j = 0; j < DOT_R; j++) all.push([i, j]);
  const step = (indent: string) =>
    [
      ...Array.from({ length: DOT_CO }, (_, i) => `const a${i} = v128.load(d${i} + t);`),
      ...Array.from({ length: DOT_R }, (_, j) => [
        `const b${j} = v128.load(x${j} + t);`,
        ...Array.from({ length: DOT_CO }, (_, i) =>
          `${acc(i, j)} = f32x4.relaxed_madd(a${i}, b${j}, ${acc(i, j)});`),
      ]).flat(),
    ].map((l) =>
      indent + l
    ).join("\n");
  return `/**
 * Weight-gradient tile: ${DOT_CO} dy rows × ${DOT_R} x rows; partial sums per voxel lane at part (${all.length} × f32x4,
 * row-major) += Σ over \`rows\` rows of \`n\` voxels (a multiple of 4) of dy · x. See gen_microkernels.ts dotKernel.
 */
// @ts-ignore: decorator
@inline export function dotTile${DOT_CO}x${DOT_R}(
  dy: usize,
  coBytes: usize,
  c: i32,
  cLast: i32,
  x: usize,
  offs: usize,
  r: i32,
  rLast: i32,
  n: i32,
  rows: i32,
  dStep: usize,
  xStep: usize,
  part: usize,
): void {
${each(DOT_CO, (i) => `let d${i} = dy + <usize>min(c + ${i}, cLast) * coBytes;`)}
${each(DOT_R, (j) => `let x${j} = x + (<usize>load<i32>(offs + (<usize>min(r + ${j}, rLast) << 2)) << 2);`)}
${each(all.length, (k) => `let ${acc(...all[k])} = v128.load(part, ${16 * k});`)}
  // Steps in pairs (an inner loop of constant trip count, unrolled by V8: half the loop overhead), then one odd.
  const end = <usize>n << 2, pairs = <usize>(n >> 3) << 5;
  for (let q = 0; q < rows; q++) {
    let t: usize = 0;
    while (t < pairs) {
      for (let u = 0; u < 2; u++) {
${step("        ")}
        t += 16;
      }
    }
    if (t < end) {
${step("      ")}
    }
${each(DOT_CO, (i) => `d${i} += dStep;`, "    ")}
${each(DOT_R, (j) => `x${j} += xStep;`, "    ")}
  }
${each(all.length, (k) => `v128.store(part, ${acc(...all[k])}, ${16 * k});`)}
}
`;
}

/** Channels of the shifted weight-gradient tile (× the 3 w taps of one (channel, kd, kh) row). */
export const SHIFT_CO = 3;

/**
 * The weight-gradient tile of a 3-wide kernel: ${SHIFT_CO} dy rows × the 3 w taps of one x row, whose x vectors are
 * the same voxels shifted by 0, 1, 2: built from two loads (the upper one carried to the next step) and two
 * shuffles, so 4 loads feed 9 FMAs (the 2×6 tile: 8 for 12). 9 accumulators + 4 x + 1 dy = 14 xmm. Reads x up to
 * 2 floats past each row's n + 2 (the caller leaves slack after the last). On one core: 52 against 46 GFLOP/s
 * (2×6) L1-resident, the whole 32→32 @32³ weight gradient 11 % faster. Lane sums at part as dotKernel's
 * (row-major, 9 × f32x4).
 */
function shiftDotKernel(): string {
  const acc = (i: number, j: number) => `s${i}${j}`;
  const step = (indent: string) =>
    [
      "const hi = v128.load(x + t, 16);",
      "const x1 = v128.shuffle<f32>(lo, hi, 1, 2, 3, 4), x2 = v128.shuffle<f32>(lo, hi, 2, 3, 4, 5);",
      ...Array.from({ length: SHIFT_CO }, (_, i) => [
        `${i === 0 ? "let " : ""}a = v128.load(d${i} + t);`,
        ...["lo", "x1", "x2"].map((v, j) => `${acc(i, j)} = f32x4.relaxed_madd(a, ${v}, ${acc(i, j)});`),
      ]).flat(),
      "lo = hi;",
    ].map((l) => indent + l).join("\n");
  const slots: string[] = [];
  for (let i = 0; i < SHIFT_CO; i++) for (let j = 0; j < 3; j++) slots.push(acc(i, j));
  return `/**
 * Weight-gradient tile of a 3-wide kernel: ${SHIFT_CO} dy rows (channels min(c + i, cLast), coBytes apart from dy) ×
 * the 3 w taps of the x row at x; lane sums at part (slot 3·i + j) += Σ over \`rows\` rows of \`n\` voxels (a
 * multiple of 4) of dy · x shifted by j. See gen_microkernels.ts shiftDotKernel.
 */
// @ts-ignore: decorator
@inline export function dotTileShift${SHIFT_CO}x3(
  dy: usize,
  coBytes: usize,
  c: i32,
  cLast: i32,
  x: usize,
  n: i32,
  rows: i32,
  dStep: usize,
  xStep: usize,
  part: usize,
): void {
${each(SHIFT_CO, (i) => `let d${i} = dy + <usize>min(c + ${i}, cLast) * coBytes;`)}
${each(slots.length, (k) => `let ${slots[k]} = v128.load(part, ${16 * k});`)}
  // Steps in pairs (a constant-trip inner loop V8 unrolls), then one odd.
  const end = <usize>n << 2, pairs = <usize>(n >> 3) << 5;
  for (let q = 0; q < rows; q++) {
    let lo = v128.load(x), t: usize = 0;
    while (t < pairs) {
      for (let u = 0; u < 2; u++) {
${step("        ")}
        t += 16;
      }
    }
    if (t < end) {
${step("      ")}
    }
${each(SHIFT_CO, (i) => `d${i} += dStep;`, "    ")}
    x += xStep;
  }
${each(slots.length, (k) => `v128.store(part, ${slots[k]}, ${16 * k});`)}
}
`;
}

const source = `// Generated by ../gen_microkernels.ts (deno task build:wasm): do not edit.
// The register-blocked micro-kernels of gemm.ts: ${MR}×${NR} GEMM tiles, the direct-convolution tiles and the
// weight-gradient dot tiles.

${gemmKernel()}
${DIRECT_GROUPS.flatMap((g) => [directKernel(6, g), directKernel(4, g)]).join("\n")}
${dotKernel()}
${shiftDotKernel()}`;

if (import.meta.main) {
  await Deno.writeTextFile(new URL("./as/microkernels.ts", import.meta.url), source);
}
