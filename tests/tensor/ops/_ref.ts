// deno-lint-ignore-file no-explicit-any -- reads untyped fixture/config JSON; values are checked at run time
/** Plain-TS references for the 3-D network ops and a tiny F32 safetensors reader for the fixtures. */

/** Reads every F32 tensor of a safetensors file: {key: {data, shape}}. */
export function readSafetensors(path: string): Map<string, { data: Float32Array; shape: number[] }> {
  const bytes = Deno.readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [key, info] of Object.entries<any>(header)) {
    if (key === "__metadata__") continue;
    if (info.dtype !== "F32") {
      throw new Error(`readSafetensors: ${key} is ${info.dtype}, only F32 is supported`);
    }
    const [a, b] = info.data_offsets;
    const start = 8 + headerLen + a;
    out.set(key, { data: new Float32Array(bytes.slice(start, 8 + headerLen + b).buffer), shape: info.shape });
  }
  return out;
}

/** Calls tap(yIndex, xIndex, wIndex) for every (output voxel, kernel tap) pair of a conv3d that reads inside x. */
function forEachConvTap(
  xs: number[],
  ws: number[],
  stride: number[],
  padBefore: number[],
  dilation: number[],
  outDims: number[],
  tap: (yi: number, xi: number, wi: number) => void,
): void {
  const [B, Ci, D, H, W] = xs, [Co, , Kd, Kh, Kw] = ws, [Do, Ho, Wo] = outDims;
  let yi = 0;
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Co; co++) {
      for (let od = 0; od < Do; od++) {
        for (let oh = 0; oh < Ho; oh++) {
          for (let ow = 0; ow < Wo; ow++, yi++) {
            for (let ci = 0; ci < Ci; ci++) {
              for (let kd = 0; kd < Kd; kd++) {
                const id = od * stride[0] - padBefore[0] + kd * dilation[0];
                if (id < 0 || id >= D) continue;
                for (let kh = 0; kh < Kh; kh++) {
                  const ih = oh * stride[1] - padBefore[1] + kh * dilation[1];
                  if (ih < 0 || ih >= H) continue;
                  for (let kw = 0; kw < Kw; kw++) {
                    const iw = ow * stride[2] - padBefore[2] + kw * dilation[2];
                    if (iw < 0 || iw >= W) continue;
                    tap(
                      yi,
                      (((b * Ci + ci) * D + id) * H + ih) * W + iw,
                      (((co * Ci + ci) * Kd + kd) * Kh + kh) * Kw + kw,
                    );
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

/** Reference conv3d on [B, Ci, D, H, W] with per-axis stride, padding before, dilation and output dims. */
export function refConv3d(
  x: Float32Array,
  xs: number[],
  w: Float32Array,
  ws: number[],
  bias: Float32Array | null,
  stride: number[],
  padBefore: number[],
  dilation: number[],
  outDims: number[],
): Float32Array {
  const Co = ws[0], S = outDims[0] * outDims[1] * outDims[2];
  // Sums in double, rounded once (as the accumulation in registers is on the device).
  const y = new Float64Array(xs[0] * Co * S);
  for (let i = 0; i < y.length; i++) y[i] = bias ? bias[Math.floor(i / S) % Co] : 0;
  forEachConvTap(xs, ws, stride, padBefore, dilation, outDims, (yi, xi, wi) => (y[yi] += x[xi] * w[wi]));
  return Float32Array.from(y);
}

/** Reference conv3d gradients for a given dy: dx [B, Ci, D, H, W] and dw [Co, Ci, Kd, Kh, Kw]. */
export function refConv3dGrads(
  x: Float32Array,
  xs: number[],
  w: Float32Array,
  ws: number[],
  dy: Float32Array,
  stride: number[],
  padBefore: number[],
  dilation: number[],
  outDims: number[],
): { dx: Float32Array; dw: Float32Array } {
  const dx = new Float64Array(x.length), dw = new Float64Array(w.length);
  forEachConvTap(xs, ws, stride, padBefore, dilation, outDims, (yi, xi, wi) => {
    dx[xi] += dy[yi] * w[wi];
    dw[wi] += dy[yi] * x[xi];
  });
  return { dx: Float32Array.from(dx), dw: Float32Array.from(dw) };
}
