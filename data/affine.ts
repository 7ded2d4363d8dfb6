/** 4×4 affine algebra and orientation codes (nibabel semantics: io_orientation, aff2axcodes, quaternions). */
import type { Affine } from "./volume.ts";

/** The 4×4 identity. */
export function identity4(): Affine {
  return [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
}

/** Matrix product `a @ b` of two square matrices of equal size. */
export function matmul(a: number[][], b: number[][]): number[][] {
  const n = a.length, m = b[0].length, k = b.length;
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row = new Array<number>(m).fill(0);
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i][t] * b[t][j];
      row[j] = s;
    }
    out.push(row);
  }
  return out;
}

/** Inverse of a square matrix by Gauss-Jordan elimination with partial pivoting; throws when singular. */
export function invert(m: number[][]): number[][] {
  const n = m.length;
  const a = m.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    if (!(Math.abs(a[p][c]) > 1e-300)) {
      throw new Error(`affine: matrix is singular, cannot invert ${JSON.stringify(m)}`);
    }
    [a[c], a[p]] = [a[p], a[c]];
    const piv = a[c][c];
    for (let j = 0; j < 2 * n; j++) a[c][j] /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r][c];
      if (f === 0) continue;
      for (let j = 0; j < 2 * n; j++) a[r][j] -= f * a[c][j];
    }
  }
  return a.map((r) => r.slice(n));
}

/** Determinant of a 3×3 matrix. */
export function det3(m: number[][]): number {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

/** Transpose of a matrix. */
export function transpose(m: number[][]): number[][] {
  return m[0].map((_, j) => m.map((r) => r[j]));
}

/** Upper-left 3×3 block of an affine. */
export function linearPart(a: Affine): number[][] {
  return [a[0].slice(0, 3), a[1].slice(0, 3), a[2].slice(0, 3)];
}

/**
 * Orthogonal polar factor of a non-singular 3×3 matrix (the closest rotation/reflection, as nibabel gets from
 * its SVD), by Newton iteration X ← (X + X⁻ᵀ) / 2.
 */
export function polarOrthogonal(m: number[][]): number[][] {
  let x = m.map((r) => r.slice());
  for (let it = 0; it < 100; it++) {
    const xit = transpose(invert(x));
    let diff = 0;
    const next = x.map((r, i) =>
      r.map((v, j) => {
        const n = 0.5 * (v + xit[i][j]);
        diff = Math.max(diff, Math.abs(n - v));
        return n;
      })
    );
    x = next;
    if (diff < 1e-15) break;
  }
  return x;
}

/** One orientation row per array axis: `[worldAxis, +1 | -1]` (nibabel's `ornt`). */
export type Ornt = [number, number][];

/**
 * nibabel `io_orientation`: for each array axis, the world axis its direction cosine is largest along (picked
 * greedily for axes 0, 1, 2 after a polar decomposition) and the sign.
 */
export function ioOrientation(affine: Affine): Ornt {
  const rzs = linearPart(affine);
  const rs = rzs.map((r) => r.slice());
  for (let c = 0; c < 3; c++) {
    let z = Math.hypot(rzs[0][c], rzs[1][c], rzs[2][c]);
    if (z === 0) z = 1;
    for (let r = 0; r < 3; r++) rs[r][c] = rzs[r][c] / z;
  }
  if (!(Math.abs(det3(rs)) > 1e-12)) {
    throw new Error(`affine: degenerate affine (singular direction matrix) ${JSON.stringify(affine)}`);
  }
  const r = polarOrthogonal(rs);
  const ornt: Ornt = [];
  for (let inAx = 0; inAx < 3; inAx++) {
    let outAx = 0;
    for (let k = 1; k < 3; k++) if (Math.abs(r[k][inAx]) > Math.abs(r[outAx][inAx])) outAx = k;
    ornt.push([outAx, r[outAx][inAx] < 0 ? -1 : 1]);
    for (let c = 0; c < 3; c++) r[outAx][c] = 0;
  }
  return ornt;
}

const AXIS_LABELS: [string, string][] = [["L", "R"], ["P", "A"], ["I", "S"]];

/** Axis codes ("RAS", "LPS", …) of an affine: the world direction each array axis points to (nibabel aff2axcodes). */
export function axcodes(affine: Affine): string {
  return ioOrientation(affine).map(([ax, flip]) => AXIS_LABELS[ax][flip > 0 ? 1 : 0]).join("");
}

/** The orientation rows that axis codes such as "RAS" stand for (nibabel axcodes2ornt). */
export function axcodesToOrnt(codes: string): Ornt {
  if (codes.length !== 3) throw new Error(`orientation: axis codes must have 3 letters, got '${codes}'`);
  const out: Ornt = [];
  for (const ch of codes.toUpperCase()) {
    const ax = AXIS_LABELS.findIndex(([lo, hi]) => ch === lo || ch === hi);
    if (ax < 0) throw new Error(`orientation: unknown axis code '${ch}' in '${codes}'`);
    out.push([ax, AXIS_LABELS[ax][1] === ch ? 1 : -1]);
  }
  if (new Set(out.map((o) => o[0])).size !== 3) {
    throw new Error(`orientation: axis codes '${codes}' repeat an axis`);
  }
  return out;
}

/** nibabel `ornt_transform(start, end)`: how to move array axes so that orientation `start` becomes `end`. */
export function orntTransform(start: Ornt, end: Ornt): Ornt {
  const result: Ornt = [];
  for (let i = 0; i < start.length; i++) {
    const [ax, flip] = start[i];
    const j = end.findIndex((e) => e[0] === ax);
    if (j < 0) throw new Error("orientation: start and end orientations do not share axes");
    result.push([j, flip === end[j][1] ? 1 : -1]);
  }
  return result;
}

/** Rotation matrix of a unit quaternion (w, x, y, z) (nibabel quat2mat). */
export function quaternionToMatrix(w: number, x: number, y: number, z: number): number[][] {
  const nq = w * w + x * x + y * y + z * z;
  if (nq < 2.220446049250313e-16) return [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const s = 2 / nq;
  const X = x * s, Y = y * s, Z = z * s;
  const wX = w * X, wY = w * Y, wZ = w * Z;
  const xX = x * X, xY = x * Y, xZ = x * Z;
  const yY = y * Y, yZ = y * Z, zZ = z * Z;
  return [
    [1 - (yY + zZ), xY - wZ, xZ + wY],
    [xY + wZ, 1 - (xX + zZ), yZ - wX],
    [xZ - wY, yZ + wX, 1 - (xX + yY)],
  ];
}

/** Quaternion (w ≥ 0, x, y, z) of a proper rotation matrix (Shepperd's method). */
export function matrixToQuaternion(r: number[][]): [number, number, number, number] {
  const tr = r[0][0] + r[1][1] + r[2][2];
  let w: number, x: number, y: number, z: number;
  if (tr > 0) {
    const s = 2 * Math.sqrt(1 + tr);
    w = s / 4;
    x = (r[2][1] - r[1][2]) / s;
    y = (r[0][2] - r[2][0]) / s;
    z = (r[1][0] - r[0][1]) / s;
  } else if (r[0][0] > r[1][1] && r[0][0] > r[2][2]) {
    const s = 2 * Math.sqrt(1 + r[0][0] - r[1][1] - r[2][2]);
    w = (r[2][1] - r[1][2]) / s;
    x = s / 4;
    y = (r[0][1] + r[1][0]) / s;
    z = (r[0][2] + r[2][0]) / s;
  } else if (r[1][1] > r[2][2]) {
    const s = 2 * Math.sqrt(1 + r[1][1] - r[0][0] - r[2][2]);
    w = (r[0][2] - r[2][0]) / s;
    x = (r[0][1] + r[1][0]) / s;
    y = s / 4;
    z = (r[1][2] + r[2][1]) / s;
  } else {
    const s = 2 * Math.sqrt(1 + r[2][2] - r[0][0] - r[1][1]);
    w = (r[1][0] - r[0][1]) / s;
    x = (r[0][2] + r[2][0]) / s;
    y = (r[1][2] + r[2][1]) / s;
    z = s / 4;
  }
  if (w < 0) [w, x, y, z] = [-w, -x, -y, -z];
  const n = Math.hypot(w, x, y, z);
  return [w / n, x / n, y / n, z / n];
}

/**
 * Splits an affine into NIfTI qform parameters: quaternion (b, c, d), offsets, voxel sizes and qfac (±1), after
 * orthogonalising the direction matrix (shear cannot be stored in a qform).
 */
export function affineToQform(affine: Affine): {
  quatern: [number, number, number];
  offset: [number, number, number];
  zooms: [number, number, number];
  qfac: 1 | -1;
} {
  const rzs = linearPart(affine);
  const zooms: [number, number, number] = [0, 0, 0];
  const dir = rzs.map((r) => r.slice());
  for (let c = 0; c < 3; c++) {
    zooms[c] = Math.hypot(rzs[0][c], rzs[1][c], rzs[2][c]);
    if (zooms[c] === 0) throw new Error(`affine: column ${c} is zero, no qform possible`);
    for (let r = 0; r < 3; r++) dir[r][c] = rzs[r][c] / zooms[c];
  }
  const rot = polarOrthogonal(dir);
  let qfac: 1 | -1 = 1;
  if (det3(rot) < 0) {
    qfac = -1;
    for (let r = 0; r < 3; r++) rot[r][2] = -rot[r][2];
  }
  const [, b, c, d] = matrixToQuaternion(rot);
  return { quatern: [b, c, d], offset: [affine[0][3], affine[1][3], affine[2][3]], zooms, qfac };
}

/** Maximum absolute difference between two matrices of equal shape. */
export function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  }
  return m;
}
