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
  const [B, Ci, D, H, W] = xs, [Co, , Kd, Kh, Kw] = ws, [Do, Ho, Wo] = outDims;
  const y = new Float32Array(B * Co * Do * Ho * Wo);
  let i = 0;
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Co; co++) {
      for (let od = 0; od < Do; od++) {
        for (let oh = 0; oh < Ho; oh++) {
          for (let ow = 0; ow < Wo; ow++) {
            let s = bias ? bias[co] : 0;
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
                    s += x[(((b * Ci + ci) * D + id) * H + ih) * W + iw] *
                      w[(((co * Ci + ci) * Kd + kd) * Kh + kh) * Kw + kw];
                  }
                }
              }
            }
            y[i++] = s;
          }
        }
      }
    }
  }
  return y;
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
  const [B, Ci, D, H, W] = xs, [Co, , Kd, Kh, Kw] = ws, [Do, Ho, Wo] = outDims;
  const dx = new Float32Array(x.length), dw = new Float32Array(w.length);
  let i = 0;
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Co; co++) {
      for (let od = 0; od < Do; od++) {
        for (let oh = 0; oh < Ho; oh++) {
          for (let ow = 0; ow < Wo; ow++) {
            const g = dy[i++];
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
                    const xi = (((b * Ci + ci) * D + id) * H + ih) * W + iw;
                    const wi = (((co * Ci + ci) * Kd + kd) * Kh + kh) * Kw + kw;
                    dx[xi] += g * w[wi];
                    dw[wi] += g * x[xi];
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw };
}
