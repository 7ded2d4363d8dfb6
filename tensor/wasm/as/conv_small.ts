// AssemblyScript: packing of the small convolutions (few output voxels: the UNet's 4³ and 2³ levels, strided
// downsampling) on a zero-padded copy of the source. Re-exported by gemm.ts; the GEMM itself is gemmBlock.
//
// The im2col matrix of a zero-padded source xp is B[r][j] = xp[offs[r] + cols[j]]: offs[r] is where im2col row r
// (channel, tap) reads relative to a column's corner, cols[j] where column voxel j's corner lies. Two loads per
// element and no bounds tests (the padding is real zeros); runs of 4 consecutive voxels move as one vector.

const MR: i32 = 6;
const NR: i32 = 8;

/**
 * Packs im2col rows [k0, k0+kc) × columns [n0, n0+nc) into NR-column panels (B of the forward pass). cols holds
 * whole panels: entries past the last column keep increasing by one (reads stay inside the copy's slack).
 */
export function packBPadded(xp: usize, offs: usize, cols: usize, k0: i32, kc: i32, n0: i32, nc: i32, dst: usize): void {
  for (let p = 0; p < nc; p += NR) {
    const c = cols + (<usize>(n0 + p) << 2);
    const c0 = load<i32>(c), c4 = load<i32>(c, 16);
    // Columns increase strictly, so four of them are consecutive exactly when the last is the first + 3.
    const lo = load<i32>(c, 12) - c0 === 3, hi = load<i32>(c, 28) - c4 === 3;
    let o = offs + (<usize>k0 << 2);
    if (lo && hi) {
      const b0 = xp + (<usize>c0 << 2), b4 = xp + (<usize>c4 << 2);
      for (let k = 0; k < kc; k++, o += 4, dst += 32) {
        const r = <usize>load<i32>(o) << 2;
        v128.store(dst, v128.load(b0 + r));
        v128.store(dst, v128.load(b4 + r), 16);
      }
      continue;
    }
    const b0 = xp + (<usize>c0 << 2), b1 = xp + (<usize>load<i32>(c, 4) << 2);
    const b2 = xp + (<usize>load<i32>(c, 8) << 2), b3 = xp + (<usize>load<i32>(c, 12) << 2);
    const b4 = xp + (<usize>c4 << 2), b5 = xp + (<usize>load<i32>(c, 20) << 2);
    const b6 = xp + (<usize>load<i32>(c, 24) << 2), b7 = xp + (<usize>load<i32>(c, 28) << 2);
    for (let k = 0; k < kc; k++, o += 4, dst += 32) {
      const r = <usize>load<i32>(o) << 2;
      store<f32>(dst, load<f32>(b0 + r));
      store<f32>(dst, load<f32>(b1 + r), 4);
      store<f32>(dst, load<f32>(b2 + r), 8);
      store<f32>(dst, load<f32>(b3 + r), 12);
      store<f32>(dst, load<f32>(b4 + r), 16);
      store<f32>(dst, load<f32>(b5 + r), 20);
      store<f32>(dst, load<f32>(b6 + r), 24);
      store<f32>(dst, load<f32>(b7 + r), 28);
    }
  }
}

/**
 * Packs the transposed im2col block (rows k = column voxels [k0, k0+kc), columns n = im2col rows [n0, n0+nc)) into
 * NR-column panels: B of the weight gradient dw = dy · colᵀ. Panel columns past nc repeat the last (never stored).
 */
export function packBPaddedT(xp: usize, offs: usize, cols: usize, k0: i32, kc: i32, n0: i32, nc: i32, dst: usize): void {
  const last = n0 + nc - 1;
  for (let p = 0; p < nc; p += NR) {
    const n = n0 + p;
    const b0 = xp + (<usize>load<i32>(offs + (<usize>min(n, last) << 2)) << 2);
    const b1 = xp + (<usize>load<i32>(offs + (<usize>min(n + 1, last) << 2)) << 2);
    const b2 = xp + (<usize>load<i32>(offs + (<usize>min(n + 2, last) << 2)) << 2);
    const b3 = xp + (<usize>load<i32>(offs + (<usize>min(n + 3, last) << 2)) << 2);
    const b4 = xp + (<usize>load<i32>(offs + (<usize>min(n + 4, last) << 2)) << 2);
    const b5 = xp + (<usize>load<i32>(offs + (<usize>min(n + 5, last) << 2)) << 2);
    const b6 = xp + (<usize>load<i32>(offs + (<usize>min(n + 6, last) << 2)) << 2);
    const b7 = xp + (<usize>load<i32>(offs + (<usize>min(n + 7, last) << 2)) << 2);
    let c = cols + (<usize>k0 << 2);
    for (let k = 0; k < kc;) {
      const j = <usize>load<i32>(c) << 2;
      if (k + 4 <= kc && load<i32>(c, 12) - load<i32>(c) === 3) {
        // Four consecutive voxels: a vector per column, transposed in registers (two 4×4 transposes).
        const v0 = v128.load(b0 + j), v1 = v128.load(b1 + j), v2 = v128.load(b2 + j), v3 = v128.load(b3 + j);
        const v4 = v128.load(b4 + j), v5 = v128.load(b5 + j), v6 = v128.load(b6 + j), v7 = v128.load(b7 + j);
        const a = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5), b = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5);
        const e = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7), f = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
        const g = v128.shuffle<f32>(v4, v5, 0, 4, 1, 5), h = v128.shuffle<f32>(v6, v7, 0, 4, 1, 5);
        const m = v128.shuffle<f32>(v4, v5, 2, 6, 3, 7), n = v128.shuffle<f32>(v6, v7, 2, 6, 3, 7);
        v128.store(dst, v128.shuffle<f32>(a, b, 0, 1, 4, 5));
        v128.store(dst, v128.shuffle<f32>(g, h, 0, 1, 4, 5), 16);
        v128.store(dst, v128.shuffle<f32>(a, b, 2, 3, 6, 7), 32);
        v128.store(dst, v128.shuffle<f32>(g, h, 2, 3, 6, 7), 48);
        v128.store(dst, v128.shuffle<f32>(e, f, 0, 1, 4, 5), 64);
        v128.store(dst, v128.shuffle<f32>(m, n, 0, 1, 4, 5), 80);
        v128.store(dst, v128.shuffle<f32>(e, f, 2, 3, 6, 7), 96);
        v128.store(dst, v128.shuffle<f32>(m, n, 2, 3, 6, 7), 112);
        k += 4;
        c += 16;
        dst += 128;
        continue;
      }
      store<f32>(dst, load<f32>(b0 + j));
      store<f32>(dst, load<f32>(b1 + j), 4);
      store<f32>(dst, load<f32>(b2 + j), 8);
      store<f32>(dst, load<f32>(b3 + j), 12);
      store<f32>(dst, load<f32>(b4 + j), 16);
      store<f32>(dst, load<f32>(b5 + j), 20);
      store<f32>(dst, load<f32>(b6 + j), 24);
      store<f32>(dst, load<f32>(b7 + j), 28);
      k++;
      c += 4;
      dst += 32;
    }
  }
}

/**
 * Packs rows [0, mc) × columns [k0, k0+kc) of A into MR-row panels, where A[i][k] = src[i·rowStride +
 * ⌊k/run⌋·runStride + k mod run]: the weights [Co, R] of the forward pass (run = R), or the input gradient's
 * wᵀ [Ci, Co·K³] read straight from w [Co, Ci, K³] (rowStride = run = K³, runStride = Ci·K³).
 */
export function packARuns(src: usize, rowStride: i32, run: i32, runStride: i32, mc: i32, k0: i32, kc: i32, dst: usize): void {
  const rsBytes = <usize>rowStride << 2;
  for (let p = 0; p < mc; p += MR) {
    const rows = min(MR, mc - p);
    const panel = src + <usize>p * rsBytes;
    let q = k0 / run, rem = k0 % run;
    if (rows === MR) {
      // Whole panels: 4 columns of the 6 rows at a time, transposed in registers.
      for (let k = 0; k < kc;) {
        const avail = min(kc - k, run - rem);
        let col = panel + (<usize>(q * runStride + rem) << 2);
        let n = 0;
        for (; n + 4 <= avail; n += 4, col += 16, dst += 96) {
          const r0 = v128.load(col), r1 = v128.load(col + rsBytes), r2 = v128.load(col + 2 * rsBytes);
          const r3 = v128.load(col + 3 * rsBytes), r4 = v128.load(col + 4 * rsBytes), r5 = v128.load(col + 5 * rsBytes);
          const a = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), b = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
          const c = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), d = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
          const u = v128.shuffle<f32>(r4, r5, 0, 4, 1, 5), v = v128.shuffle<f32>(r4, r5, 2, 6, 3, 7);
          v128.store(dst, v128.shuffle<f32>(a, b, 0, 1, 4, 5));
          store<i64>(dst, i64x2.extract_lane(u, 0), 16);
          v128.store(dst, v128.shuffle<f32>(a, b, 2, 3, 6, 7), 24);
          store<i64>(dst, i64x2.extract_lane(u, 1), 40);
          v128.store(dst, v128.shuffle<f32>(c, d, 0, 1, 4, 5), 48);
          store<i64>(dst, i64x2.extract_lane(v, 0), 64);
          v128.store(dst, v128.shuffle<f32>(c, d, 2, 3, 6, 7), 72);
          store<i64>(dst, i64x2.extract_lane(v, 1), 88);
        }
        for (; n < avail; n++, col += 4, dst += MR << 2) {
          for (let r = 0; r < MR; r++) store<f32>(dst + (<usize>r << 2), load<f32>(col + <usize>r * rsBytes));
        }
        k += avail;
        rem += avail;
        if (rem === run) {
          rem = 0;
          q++;
        }
      }
      continue;
    }
    for (let k = 0; k < kc; k++) {
      const col = panel + (<usize>(q * runStride + rem) << 2);
      for (let r = 0; r < MR; r++) store<f32>(dst + (<usize>r << 2), r < rows ? load<f32>(col + <usize>r * rsBytes) : 0);
      dst += MR << 2;
      if (++rem === run) {
        rem = 0;
        q++;
      }
    }
  }
}

/**
 * Zero-padded copy of planes [p0, p1) of src [planes, D, H, W] into dst [planes, Dp, Hp, Wp], the source at
 * (bd, bh, bw): one fill of the whole range, then the source rows, moved as vectors when they are short (the
 * small convolutions' rows are 2–8 voxels, where a memory.copy per row costs more than the data).
 */
export function padSmall(src: usize, dst: usize, p0: i32, p1: i32, D: i32, H: i32, W: i32, Dp: i32, Hp: i32, Wp: i32, bd: i32, bh: i32, bw: i32): void {
  const padVol = <usize>(Dp * Hp * Wp), vol = <usize>(D * H * W);
  memory.fill(dst + (<usize>p0 * padVol << 2), 0, <usize>(p1 - p0) * padVol << 2);
  const rowBytes = <usize>W << 2;
  for (let p = p0; p < p1; p++) {
    let s = src + (<usize>p * vol << 2);
    const plane = dst + (<usize>p * padVol << 2);
    for (let d = 0; d < D; d++) {
      let o = plane + (<usize>(((d + bd) * Hp + bh) * Wp + bw) << 2);
      for (let h = 0; h < H; h++, s += rowBytes, o += <usize>Wp << 2) {
        if (W === 4) v128.store(o, v128.load(s));
        else if (W === 2) store<u64>(o, load<u64>(s));
        else if (W === 8) {
          v128.store(o, v128.load(s));
          v128.store(o, v128.load(s, 16), 16);
        } else memory.copy(o, s, rowBytes);
      }
    }
  }
}
