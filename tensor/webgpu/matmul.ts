/**
 * Batched matmul C[b] = op(A[b]) · op(B[b]), register-tiled: each invocation computes a TM×TN block of C.
 * The aligned no-transpose case loads vec4s; every other case uses the same tile with scalar loads.
 * No workgroup memory or barriers: on llvmpipe barriers cost more than the reuse they buy.
 */
import type { MatmulArgs } from "../backend/geometry.ts";
import type { Runtime } from "./runtime.ts";
import { kernelLayout } from "./kernel.ts";

const WG = 64;

const UNIFORMS = {
  M: "u32",
  N: "u32",
  K: "u32",
  batch: "u32",
  /** Elements between consecutive batch matrices of A and B (0 broadcasts). */
  strideA: "u32",
  strideB: "u32",
  tilesN: "u32",
  tilesM: "u32",
} as const;
const [SCALAR, VEC4] = ["f32", "vec4<f32>"].map((type) =>
  kernelLayout([
    { name: "A", type },
    { name: "B", type },
    { name: "C", type, access: "read_write" },
  ], UNIFORMS)
);

function source(tm: number, tn: number, vec4: boolean, transA: boolean, transB: boolean): string {
  const rows = [...Array(tm).keys()];
  const colsV = [...Array(tn / 4).keys()];
  if (vec4) {
    // A rows as vec4 along K, B rows as vec4 along N, C as vec4 along N.
    const accDecl = rows.map((r) => colsV.map((c) => `var acc${r}_${c} = vec4<f32>(0.0);`).join(" ")).join(
      "\n  ",
    );
    const loadA = rows.map((r) => `let a${r} = A[aBase + min(m0 + ${r}u, M - 1u) * K4 + k4];`).join("\n    ");
    const loadB = [0, 1, 2, 3].map((j) =>
      colsV.map((c) => `let b${j}_${c} = B[bBase + (k4 * 4u + ${j}u) * N4 + n4 + ${c}u];`).join(" ")
    ).join("\n    ");
    const fma = rows.map((r) =>
      colsV.map((c) =>
        `acc${r}_${c} = acc${r}_${c} + a${r}.x * b0_${c} + a${r}.y * b1_${c} + a${r}.z * b2_${c} + a${r}.w * b3_${c};`
      ).join(" ")
    ).join("\n    ");
    const store = rows.map((r) =>
      `if (m0 + ${r}u < M) { ${
        colsV.map((c) => `if (n4 + ${c}u < N4) { C[cBase + (m0 + ${r}u) * N4 + n4 + ${c}u] = acc${r}_${c}; }`)
          .join(" ")
      } }`
    ).join("\n  ");
    return `${VEC4.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${VEC4.lets}
  let t = linearGroup(wid, nwg) * ${WG}u + lid;
  if (t >= tilesN * tilesM * batch) { return; }
  let K4 = K / 4u; let N4 = N / 4u;
  let n4 = (t % tilesN) * ${tn / 4}u;
  let m0 = ((t / tilesN) % tilesM) * ${tm}u;
  let b = t / (tilesN * tilesM);
  let aBase = b * strideA / 4u; let bBase = b * strideB / 4u; let cBase = b * M * N4;
  ${accDecl}
  for (var k4 = 0u; k4 < K4; k4++) {
    ${loadA}
    ${loadB}
    ${fma}
  }
  ${store}
}
`;
  }
  const cols = [...Array(tn).keys()];
  const aIdx = (r: string) => (transA ? `k * M + ${r}` : `${r} * K + k`);
  const bIdx = (c: string) => (transB ? `${c} * K + k` : `k * N + ${c}`);
  const accDecl = rows.map((r) => cols.map((c) => `var acc${r}_${c} = 0.0;`).join(" ")).join("\n  ");
  const rowIdx = rows.map((r) => `let mr${r} = min(m0 + ${r}u, M - 1u);`).join(" ");
  const colIdx = cols.map((c) => `let nc${c} = min(n0 + ${c}u, N - 1u);`).join(" ");
  const loadA = rows.map((r) => `let a${r} = A[aBase + ${aIdx(`mr${r}`)}];`).join(" ");
  const loadB = cols.map((c) => `let b${c} = B[bBase + ${bIdx(`nc${c}`)}];`).join(" ");
  const fma = rows.map((r) => cols.map((c) => `acc${r}_${c} = fma(a${r}, b${c}, acc${r}_${c});`).join(" "))
    .join(
      "\n    ",
    );
  const store = rows.map((r) =>
    `if (m0 + ${r}u < M) { ${
      cols.map((c) => `if (n0 + ${c}u < N) { C[cBase + (m0 + ${r}u) * N + n0 + ${c}u] = acc${r}_${c}; }`)
        .join(" ")
    } }`
  ).join("\n  ");
  return `${SCALAR.header}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${SCALAR.lets}
  let t = linearGroup(wid, nwg) * ${WG}u + lid;
  if (t >= tilesN * tilesM * batch) { return; }
  let n0 = (t % tilesN) * ${tn}u;
  let m0 = ((t / tilesN) % tilesM) * ${tm}u;
  let b = t / (tilesN * tilesM);
  let aBase = b * strideA; let bBase = b * strideB; let cBase = b * M * N;
  ${rowIdx}
  ${colIdx}
  ${accDecl}
  for (var k = 0u; k < K; k++) {
    ${loadA}
    ${loadB}
    ${fma}
  }
  ${store}
}
`;
}

/** Tile shape per invocation; null picks by problem size (benchmarks override it). */
export const matmulTile: { tm: number; tn: number } | { tm: null; tn: null } = { tm: null, tn: null };

// Measured on llvmpipe (bench/run.ts): 8×8 tiles win once there are enough of them to fill the cores.
function pickTile(p: MatmulArgs): { tm: number; tn: number } {
  if (matmulTile.tm !== null) return matmulTile as { tm: number; tn: number };
  const tiles88 = Math.ceil(p.M / 8) * Math.ceil(p.N / 8) * p.batch;
  return tiles88 >= 1024 ? { tm: 8, tn: 8 } : { tm: 4, tn: 4 };
}

/** Records C = op(A)·op(B) for contiguous buffers. */
export function runMatmul(rt: Runtime, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer, p: MatmulArgs): void {
  const vec4 = !p.transA && !p.transB && p.K % 4 === 0 && p.N % 4 === 0 && p.batchStrideA % 4 === 0 &&
    p.batchStrideB % 4 === 0;
  const { tm, tn } = pickTile(p);
  const tilesN = Math.ceil(p.N / tn), tilesM = Math.ceil(p.M / tm);
  const u = SCALAR.pack({ ...p, strideA: p.batchStrideA, strideB: p.batchStrideB, tilesN, tilesM });
  rt.dispatch(
    source(tm, tn, vec4, p.transA, p.transB),
    [a, b, c],
    u,
    Math.ceil((tilesN * tilesM * p.batch) / WG),
  );
}
