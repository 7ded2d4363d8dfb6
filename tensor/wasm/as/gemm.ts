// AssemblyScript: the GEMM core of the WASM backend (matmul and convolution). Compiled by `deno task build:wasm`
// into ../gemm.wasm; never imported by TypeScript.
//
// C[M×N] (+)= A[M×K]·B[K×N] with A packed in MR-row panels ([kc][MR] each) and B in NR-column panels
// ([kc][NR] each), zero-padded at the edges, so the micro-kernel streams both from L1/L2 with no index math.
// 6×8 (A rows 0–3 from one rotated load: gen_microkernels.ts) measured ~55 GFLOP/s on one EPYC core, L1-resident,
// against ~41 with a broadcast per row and 20 for 4×16 (which spills: 16 accumulators + loads > 16 xmm).

import {
  dotTile2x6,
  dotTileShift3x3,
  kernel6x8,
  kernelDirect4x8g1,
  kernelDirect4x8g3,
  kernelDirect6x8g1,
  kernelDirect6x8g3,
} from "./microkernels";

/** The weight-gradient dot tile (dotTile2x6): co channels × im2col rows, 12 f32x4 lane sums (192 bytes). */
const DOT_CO: i32 = 2, DOT_R: i32 = 6;
/** The 3-wide kernel's tile (dotTileShift3x3): 3 channels × the 3 w taps of one x row, 9 lane sums (in 192 bytes). */
const SHIFT_CO: i32 = 3;

const MR: i32 = 6;
const NR: i32 = 8;

/** Packs the mc×kc block at src (element strides rs between rows, cs between columns) into MR-row panels. */
export function packA(src: usize, rs: i32, cs: i32, mc: i32, kc: i32, dst: usize): void {
  for (let p = 0; p < mc; p += MR) {
    const rows = min(MR, mc - p);
    let k = 0;
    if (rows === MR && cs === 1) {
      // Rows along k: 4 k from each row (6 loads), transposed in registers into 4 panel columns of 6.
      const rb = <usize> rs << 2, r0 = src + ((<usize> p * rs) << 2);
      for (; k + 4 <= kc; k += 4) {
        const at = r0 + (<usize> k << 2);
        const x0 = v128.load(at), x1 = v128.load(at + rb), x2 = v128.load(at + 2 * rb);
        const x3 = v128.load(at + 3 * rb), x4 = v128.load(at + 4 * rb), x5 = v128.load(at + 5 * rb);
        const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
        const u0 = v128.shuffle<f32>(x4, x5, 0, 4, 1, 5), u1 = v128.shuffle<f32>(x4, x5, 2, 6, 3, 7);
        v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
        v128.store64_lane(dst, u0, 0, 16);
        v128.store(dst, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 24);
        v128.store64_lane(dst, u0, 1, 40);
        v128.store(dst, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 48);
        v128.store64_lane(dst, u1, 0, 64);
        v128.store(dst, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 72);
        v128.store64_lane(dst, u1, 1, 88);
        dst += 96;
      }
    } else if (rows === MR && rs === 1) {
      // Rows contiguous at each k (a transposed A): one 4-float and one 2-float copy per k.
      for (; k < kc; k++) {
        const col = src + ((<usize> p + <usize> k * cs) << 2);
        v128.store(dst, v128.load(col));
        store<u64>(dst, load<u64>(col, 16), 16);
        dst += 24;
      }
    }
    for (; k < kc; k++) {
      const col = src + ((<usize> p * rs + <usize> k * cs) << 2);
      for (let r = 0; r < MR; r++) {
        store<f32>(dst, r < rows ? load<f32>(col + ((<usize> r * rs) << 2)) : 0);
        dst += 4;
      }
    }
  }
}

/** Packs the kc×nc block at src (element strides rs between rows k, cs between columns n) into NR-column panels. */
export function packB(src: usize, rs: i32, cs: i32, kc: i32, nc: i32, dst: usize): void {
  for (let p = 0; p < nc; p += NR) {
    const cols = min(NR, nc - p);
    const base = src + ((<usize> p * cs) << 2);
    if (cols === NR && cs === 1) {
      for (let k = 0; k < kc; k++) {
        const row = base + ((<usize> k * rs) << 2);
        v128.store(dst, v128.load(row));
        v128.store(dst, v128.load(row, 16), 16);
        dst += 32;
      }
      continue;
    }
    for (let k = 0; k < kc; k++) {
      const row = base + ((<usize> k * rs) << 2);
      for (let c = 0; c < NR; c++) {
        store<f32>(dst, c < cols ? load<f32>(row + ((<usize> c * cs) << 2)) : 0);
        dst += 4;
      }
    }
  }
}

// The small convolutions' packing (im2col of a zero-padded copy, wᵀ read in place).
export { packARuns, packBPadded, packBPaddedT, padSmall } from "./conv_small";

// Convolution gathers. Row r of the virtual im2col matrix is (channel, kd, kh, kw); column j is a voxel (jd, jh, jw)
// of the column lattice. rowTab holds 4 i32 per row: channel offset in the source, and kd·cd, kh·ch, kw·cw (offsets
// into the per-axis tables). tabD[kd·cd + jd] is the source depth offset (already × H·W), tabH × W, tabW × 1, or
// negative where the tap falls in the padding (or, for the input gradient, between strided samples).

/** Packs rows [k0, k0+kc) × columns [n0, n0+nc) of the im2col matrix into NR-column panels (conv forward, dx). */
export function packBConv(
  x: usize,
  rowTab: usize,
  tabD: usize,
  tabH: usize,
  tabW: usize,
  _cd: i32,
  ch: i32,
  cw: i32,
  k0: i32,
  kc: i32,
  n0: i32,
  nc: i32,
  dst: usize,
  colScratch: usize,
): void {
  const plane = ch * cw;
  for (let p = 0; p < nc; p += NR) {
    const cols = min(NR, nc - p);
    const j0 = n0 + p;
    const jd0 = j0 / plane, jh0 = (j0 / cw) % ch, jw0 = j0 % cw;
    if (cols === NR && jw0 + NR <= cw) {
      // All NR columns lie in one row of the lattice: one (d, h) lookup per row, contiguous w taps.
      for (let k = 0; k < kc; k++) {
        const rt = rowTab + (<usize> (k0 + k) << 4);
        const d = load<i32>(tabD + (<usize> (load<i32>(rt, 4) + jd0) << 2));
        const h = load<i32>(tabH + (<usize> (load<i32>(rt, 8) + jh0) << 2));
        const wt = tabW + (<usize> (load<i32>(rt, 12) + jw0) << 2);
        if ((d | h) < 0) {
          v128.store(dst, f32x4.splat(0));
          v128.store(dst, f32x4.splat(0), 16);
        } else {
          const base = x + (<usize> (load<i32>(rt) + d + h) << 2);
          const w0 = load<i32>(wt), w7 = load<i32>(wt, 28);
          if (w0 >= 0 && w7 - w0 === 7) {
            const s = base + (<usize> w0 << 2);
            v128.store(dst, v128.load(s));
            v128.store(dst, v128.load(s, 16), 16);
          } else {
            for (let c = 0; c < NR; c++) {
              const w = load<i32>(wt + (<usize> c << 2));
              store<f32>(dst + (<usize> c << 2), w >= 0 ? load<f32>(base + (<usize> w << 2)) : 0);
            }
          }
        }
        dst += 32;
      }
      continue;
    }
    // Edge panel: decode each column once, then gather element by element.
    for (let c = 0; c < NR; c++) {
      const j = j0 + c;
      const s = colScratch + (<usize> c * 12);
      store<i32>(s, c < cols ? j / plane : -1);
      store<i32>(s, c < cols ? (j / cw) % ch : 0, 4);
      store<i32>(s, c < cols ? j % cw : 0, 8);
    }
    for (let k = 0; k < kc; k++) {
      const rt = rowTab + (<usize> (k0 + k) << 4);
      const chan = load<i32>(rt), od = load<i32>(rt, 4), oh = load<i32>(rt, 8), ow = load<i32>(rt, 12);
      for (let c = 0; c < NR; c++) {
        const s = colScratch + (<usize> c * 12);
        const jd = load<i32>(s);
        let v: f32 = 0;
        if (jd >= 0) {
          const d = load<i32>(tabD + (<usize> (od + jd) << 2));
          const h = load<i32>(tabH + (<usize> (oh + load<i32>(s, 4)) << 2));
          const w = load<i32>(tabW + (<usize> (ow + load<i32>(s, 8)) << 2));
          if ((d | h | w) >= 0) v = load<f32>(x + (<usize> (chan + d + h + w) << 2));
        }
        store<f32>(dst, v);
        dst += 4;
      }
    }
  }
}

/**
 * Packs the transposed im2col block (rows k = voxels [k0, k0+kc), columns n = im2col rows [n0, n0+nc)) into
 * NR-column panels: the B operand of the weight gradient dw = dy · colᵀ.
 */
export function packBConvT(
  x: usize,
  rowTab: usize,
  tabD: usize,
  tabH: usize,
  tabW: usize,
  _cd: i32,
  ch: i32,
  cw: i32,
  k0: i32,
  kc: i32,
  n0: i32,
  nc: i32,
  dst: usize,
): void {
  const plane = ch * cw;
  for (let p = 0; p < nc; p += NR) {
    const cols = min(NR, nc - p);
    let jd = k0 / plane, jh = (k0 / cw) % ch, jw = k0 % cw;
    let k = 0;
    // Runs of voxels along one lattice row: one (d, h) lookup per row r and run, then w taps only.
    while (k < kc) {
      const run = min(kc - k, cw - jw);
      for (let c = 0; c < NR; c++) {
        let out = dst + (<usize>(k * NR + c) << 2);
        if (c >= cols) {
          for (let t = 0; t < run; t++, out += NR << 2) store<f32>(out, 0);
          continue;
        }
        const rt = rowTab + (<usize>(n0 + p + c) << 4);
        const d = load<i32>(tabD + (<usize>(load<i32>(rt, 4) + jd) << 2));
        const h = load<i32>(tabH + (<usize>(load<i32>(rt, 8) + jh) << 2));
        if ((d | h) < 0) {
          for (let t = 0; t < run; t++, out += NR << 2) store<f32>(out, 0);
          continue;
        }
        const base = x + (<usize>(load<i32>(rt) + d + h) << 2);
        let wt = tabW + (<usize>(load<i32>(rt, 12) + jw) << 2);
        for (let t = 0; t < run; t++, out += NR << 2, wt += 4) {
          const w = load<i32>(wt);
          store<f32>(out, w >= 0 ? load<f32>(base + (<usize>w << 2)) : 0);
        }
      }
      k += run;
      jw += run;
      if (jw === cw) {
        jw = 0;
        if (++jh === ch) {
          jh = 0;
          jd++;
        }
      }
    }
    dst += <usize>(kc * NR) << 2;
  }
}

/**
 * C block [mc × nc] at c (row stride ldc elements) (+)= packed A · packed B. Edge tiles go through `tile`
 * (MR·NR floats of scratch) so the micro-kernel never reads or writes outside C.
 */
export function gemmBlock(
  ap: usize,
  bp: usize,
  mc: i32,
  nc: i32,
  kc: i32,
  c: usize,
  ldc: i32,
  acc: bool,
  tile: usize,
): void {
  const ldcBytes = <usize> ldc << 2;
  for (let j = 0; j < nc; j += NR) {
    const cols = min(NR, nc - j);
    const b = bp + (<usize> j * kc << 2);
    for (let i = 0; i < mc; i += MR) {
      const rows = min(MR, mc - i);
      const a = ap + (<usize> i * kc << 2);
      const cij = c + (<usize> i * ldcBytes) + (<usize> j << 2);
      if (rows === MR && cols === NR) {
        kernel6x8(a, b, kc, cij, ldcBytes, acc);
        continue;
      }
      for (let r = 0; r < MR; r++) {
        for (let q = 0; q < NR; q++) {
          store<f32>(
            tile + (<usize> (r * NR + q) << 2),
            acc && r < rows && q < cols ? load<f32>(cij + <usize> r * ldcBytes + (<usize> q << 2)) : 0,
          );
        }
      }
      kernel6x8(a, b, kc, tile, NR << 2, true);
      for (let r = 0; r < rows; r++) {
        for (let q = 0; q < cols; q++) {
          store<f32>(
            cij + <usize> r * ldcBytes + (<usize> q << 2),
            load<f32>(tile + (<usize> (r * NR + q) << 2)),
          );
        }
      }
    }
  }
}

/**
 * col2im: adds the C block [mc × nc] at cb (row stride ldc) into dst through the forward gather tables, row i being
 * im2col row r0 + i and column j voxel n0 + j. Rows of one channel block never leave their channels, so chunks over
 * channel blocks do not race.
 */
export function col2imAdd(
  cb: usize,
  ldc: i32,
  r0: i32,
  mc: i32,
  n0: i32,
  nc: i32,
  rowTab: usize,
  tabD: usize,
  tabH: usize,
  tabW: usize,
  ch: i32,
  cw: i32,
  dst: usize,
): void {
  const plane = ch * cw;
  for (let i = 0; i < mc; i++) {
    const rt = rowTab + (<usize>(r0 + i) << 4);
    const chan = load<i32>(rt), od = load<i32>(rt, 4), oh = load<i32>(rt, 8), ow = load<i32>(rt, 12);
    let jd = n0 / plane, jh = (n0 / cw) % ch, jw = n0 % cw;
    const row = cb + (<usize>(i * ldc) << 2);
    for (let j = 0; j < nc; j++) {
      const d = load<i32>(tabD + (<usize>(od + jd) << 2));
      const h = load<i32>(tabH + (<usize>(oh + jh) << 2));
      const w = load<i32>(tabW + (<usize>(ow + jw) << 2));
      if ((d | h | w) >= 0) {
        const p = dst + (<usize>(chan + d + h + w) << 2);
        store<f32>(p, load<f32>(p) + load<f32>(row + (<usize>j << 2)));
      }
      if (++jw === cw) {
        jw = 0;
        if (++jh === ch) {
          jh = 0;
          jd++;
        }
      }
    }
  }
}

// Direct convolution (stride 1, on a zero-padded copy of the input): the B operand of each micro-kernel is read
// straight from the input, 8 consecutive voxels of one output row per tap, at base + offs[k] (one i32 per im2col
// row). No B packing at all.

/**
 * C rows [(6·n6 + 4·n4) × (nRows·panels·NR)] at c (row stride ldc) += packed A · direct B of nRows output rows of
 * `panels` consecutive 8-voxel panels each, the first at base, the next rows rowBytes on. A holds n6 tiles of 6
 * rows then n4 of 4, each a 6-row panel aStride taps long (this K block starting at ap), so a block of 32 channels
 * costs 32 rows, not 36. group 3: the taps come in runs of 3 consecutive voxels (a 3-wide kernel; kc a multiple
 * of 3), read with one offset per run; else 1.
 */
function gemmDirectRows(ap: usize, aStride: i32, offs: usize, base: usize, rowBytes: usize, nRows: i32, n6: i32, n4: i32, panels: i32, kc: i32, c: usize, ldc: i32, group: i32): void {
  const ldcBytes = <usize>ldc << 2, tileBytes = <usize>(MR * aStride) << 2;
  // One A tile (MR × kc) stays in L1 while it meets every panel of the rows.
  for (let t = 0; t < n6 + n4; t++) {
    const a = ap + <usize>t * tileBytes;
    const ct = c + <usize>(t < n6 ? t * MR : n6 * MR + (t - n6) * 4) * ldcBytes;
    for (let q = 0; q < nRows; q++) {
      for (let j = 0; j < panels; j++) {
        const b = base + <usize>q * rowBytes + (<usize>(j * NR) << 2), cj = ct + (<usize>((q * panels + j) * NR) << 2);
        if (group === 3) {
          if (t < n6) kernelDirect6x8g3(a, offs, b, kc, cj, ldcBytes);
          else kernelDirect4x8g3(a, offs, b, kc, cj, ldcBytes);
        } else if (t < n6) kernelDirect6x8g1(a, offs, b, kc, cj, ldcBytes);
        else kernelDirect4x8g1(a, offs, b, kc, cj, ldcBytes);
      }
    }
  }
}

/**
 * Output rows [row0, row1) of one M block of a direct convolution (a chunk), in groups of up to rowsPer rows of
 * one depth plane (so each A tile meets ~8 panels or more, not just one row's: narrow rows would stream A from
 * L2 or L3 every row): the C block at cb (mRows × rowsPer·panels·NR, rows padded to the tiles) starts at the bias
 * (or 0), takes the K blocks of ~128 taps (whole tap runs; A panels are R taps long; the B rows a block meets,
 * up to rowsPer + 2 input rows per tap row, stay in L1: 256 taps measured 17 % slower on 256→256 @16³), and its
 * first Wo columns of each row go to y (channel i at y + i·chanStride floats, row at row·Wo). xs: this sample's
 * padded input; bias 0: none (the heap starts at 1 MiB).
 */
export function convDirectRows(ap: usize, R: i32, offs: usize, xs: usize, planeF: i32, Wp: i32, Ho: i32, row0: i32, row1: i32, rowsPer: i32, n6: i32, n4: i32, panels: i32, group: i32, bias: usize, mc: i32, cb: usize, y: usize, chanStride: i32, Wo: i32): void {
  const ldc = rowsPer * panels * NR, cRowBytes = <usize>ldc << 2, mRows = n6 * MR + n4 * 4;
  const panelRowBytes = <usize>(panels * NR) << 2, chanBytes = <usize>chanStride << 2;
  const KC = 128 - 128 % group;
  for (let row = row0; row < row1;) {
    const od = row / Ho, oh = row % Ho, n = min(rowsPer, min(Ho - oh, row1 - row));
    const used = <usize>n * panelRowBytes;
    for (let i = 0; i < mRows; i++) {
      const v = f32x4.splat(bias !== 0 && i < mc ? load<f32>(bias + (<usize>i << 2)) : 0);
      const c = cb + <usize>i * cRowBytes;
      for (let q: usize = 0; q < used; q += 16) v128.store(c + q, v);
    }
    const base = xs + (<usize>(od * planeF + oh * Wp) << 2);
    for (let k0 = 0; k0 < R; k0 += KC) {
      gemmDirectRows(ap + (<usize>(k0 * MR) << 2), R, offs + (<usize>k0 << 2), base, <usize>Wp << 2, n, n6, n4, panels, min(KC, R - k0), cb, ldc, group);
    }
    for (let q = 0; q < n; q++) {
      const yRow = y + (<usize>((row + q) * Wo) << 2), cq = cb + <usize>q * panelRowBytes;
      for (let i = 0; i < mc; i++) memory.copy(yRow + <usize>i * chanBytes, cq + <usize>i * cRowBytes, <usize>Wo << 2);
    }
    row += n;
  }
}

/**
 * Direct weight gradient (stride 1): dw[co, r] = Σ over samples and output voxels of dy[co, v] · xp[offs[r] + v'],
 * v' the voxel's place in the zero-padded input copy xp. Vector lanes run along the voxels (a dot product per
 * (co, r), no packing): dy rows Wq wide (a multiple of 4, zero past Wo), xp rows Wp ≥ Wq + Kw − 1 wide. For this
 * chunk's block [co0, co0+mc) × [r0, r0+nc): per block of rb output rows (cached in L1/L2), every 2×6 tile of
 * (co, r) runs over them, its lane sums kept at part; the lanes are summed into dw at the end. shift: a 3-wide
 * kernel (r0 and nc multiples of 3), in 3×3 tiles of 3 channels × one x row's 3 w taps (dotTileShift3x3; reads up
 * to 2 floats past the last x row).
 */
export function convWeightGradDirect(
  dy: usize,
  dySample: i32,
  Wq: i32,
  xp: usize,
  xSample: i32,
  xPlane: i32,
  Wp: i32,
  offs: usize,
  batch: i32,
  Do: i32,
  Ho: i32,
  rb: i32,
  co0: i32,
  mc: i32,
  r0: i32,
  nc: i32,
  R: i32,
  part: usize,
  dw: usize,
  shift: bool,
): void {
  const tCo = shift ? SHIFT_CO : DOT_CO, tR = shift ? 3 : DOT_R;
  const coTiles = (mc + tCo - 1) / tCo, rTiles = (nc + tR - 1) / tR;
  memory.fill(part, 0, <usize>(coTiles * rTiles * 192));
  const coLast = co0 + mc - 1, rLast = r0 + nc - 1;
  const coBytes = <usize>(Do * Ho * Wq) << 2;
  const dStep = <usize>Wq << 2, xStep = <usize>Wp << 2;
  for (let b = 0; b < batch; b++) {
    const dyb = dy + (<usize>b * dySample << 2), xb = xp + (<usize>b * xSample << 2);
    for (let od = 0; od < Do; od++) {
      for (let oh0 = 0; oh0 < Ho; oh0 += rb) {
        const rows = min(rb, Ho - oh0);
        const dRow = dyb + (<usize>((od * Ho + oh0) * Wq) << 2), xRow = xb + (<usize>(od * xPlane + oh0 * Wp) << 2);
        // Tiles past the block's edge repeat its last row or column; their sums are never written out.
        for (let ti = 0; ti < coTiles; ti++) {
          let p = part + <usize>(ti * rTiles * 192);
          const c = co0 + ti * tCo;
          for (let tj = 0; tj < rTiles; tj++, p += 192) {
            const r = r0 + tj * tR;
            if (shift) {
              const x = xRow + (<usize>load<i32>(offs + (<usize>r << 2)) << 2);
              dotTileShift3x3(dRow, coBytes, c, coLast, x, Wq, rows, dStep, xStep, p);
            } else dotTile2x6(dRow, coBytes, c, coLast, xRow, offs, r, rLast, Wq, rows, dStep, xStep, p);
          }
        }
      }
    }
  }
  for (let i = 0; i < mc; i++) {
    const ti = i / tCo;
    for (let j = 0; j < nc; j++) {
      const tj = j / tR;
      const v = v128.load(part + <usize>((ti * rTiles + tj) * 192 + ((i - ti * tCo) * tR + j - tj * tR) * 16));
      const sum = f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) +
        f32x4.extract_lane(v, 3);
      store<f32>(dw + (<usize>((co0 + i) * R + r0 + j) << 2), sum);
    }
  }
}

/**
 * Zero-padded copy of planes [p0, p1) of src [planes, D, H, W] into dst [planes, Dp, Hp, Wp], the input placed at
 * (bd, bh, bw): the direct convolutions' input (a row-wise copy at memory speed; padding after is implied).
 */
export function padPlanes(src: usize, dst: usize, p0: i32, p1: i32, D: i32, H: i32, W: i32, Dp: i32, Hp: i32, Wp: i32, bd: i32, bh: i32, bw: i32): void {
  const rowBytes = <usize>Wp << 2, inRow = <usize>W << 2, left = <usize>bw << 2;
  const right = rowBytes - left - inRow;
  for (let p = p0; p < p1; p++) {
    let o = dst + (<usize>p * Dp * Hp * Wp << 2);
    const s = src + (<usize>p * D * H * W << 2);
    for (let d = 0; d < Dp; d++) {
      const id = d - bd;
      if (id < 0 || id >= D) {
        memory.fill(o, 0, rowBytes * Hp);
        o += rowBytes * Hp;
        continue;
      }
      for (let h = 0; h < Hp; h++, o += rowBytes) {
        const ih = h - bh;
        if (ih < 0 || ih >= H) {
          memory.fill(o, 0, rowBytes);
          continue;
        }
        if (left > 0) memory.fill(o, 0, left);
        memory.copy(o + left, s + ((<usize>(id * H + ih) * W) << 2), inRow);
        if (right > 0) memory.fill(o + left + inRow, 0, right);
      }
    }
  }
}
