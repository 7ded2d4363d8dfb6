import { inflateSync } from "node:zlib";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { crc32, encodePng, volumeSlices, volumeSlicesPng } from "../../recipe/png.ts";

type Chunk = { type: string; data: Uint8Array };

/** Splits a PNG into chunks, checking the signature and every chunk CRC. */
function readChunks(png: Uint8Array): Chunk[] {
  assertEquals([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  let o = 8;
  while (o < png.length) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    assertEquals(view.getUint32(o + 8 + len), crc32(png.subarray(o + 4, o + 8 + len)), `${type} CRC`);
    chunks.push({ type, data: png.subarray(o + 8, o + 8 + len) });
    o += 12 + len;
  }
  return chunks;
}

/** Decodes an 8-bit, non-interlaced PNG (all five filter types) back to its pixels. */
function decodePng(png: Uint8Array): { width: number; height: number; channels: number; pixels: Uint8Array } {
  const chunks = readChunks(png);
  assertEquals(chunks[0].type, "IHDR");
  assertEquals(chunks.at(-1)!.type, "IEND");
  const h = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, 13);
  const width = h.getUint32(0), height = h.getUint32(4);
  assertEquals(h.getUint8(8), 8);
  const channels = ({ 0: 1, 2: 3 } as Record<number, number>)[h.getUint8(9)];
  assertEquals([h.getUint8(10), h.getUint8(11), h.getUint8(12)], [0, 0, 0]);
  const idat = chunks.filter((c) => c.type === "IDAT").map((c) => [...c.data]).flat();
  const raw = new Uint8Array(inflateSync(Uint8Array.from(idat)));
  const stride = width * channels;
  assertEquals(raw.length, (stride + 1) * height);
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      const paeth = () => {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      };
      const pred = [0, a, b, (a + b) >> 1, paeth()][f];
      px[y * stride + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, channels, pixels: px };
}

Deno.test("png: CRC32 known vector", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new TextEncoder().encode("IEND")), 0xae426082); // the CRC every PNG ends with
});

Deno.test("png: grey and RGB encode and decode back exactly", () => {
  const grey = Uint8Array.from({ length: 7 * 5 }, (_, i) => (i * 37) & 0xff);
  const g = decodePng(encodePng(grey, 7, 5, 1));
  assertEquals([g.width, g.height, g.channels], [7, 5, 1]);
  assertEquals(g.pixels, grey);
  const rgb = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 91 + 3) & 0xff);
  const c = decodePng(encodePng(rgb, 4, 3, 3));
  assertEquals([c.width, c.height, c.channels], [4, 3, 3]);
  assertEquals(c.pixels, rgb);
  assertThrows(() => encodePng(grey, 7, 4, 1), /35 bytes for 7×4×1/);
  assertThrows(() => encodePng(grey, 0, 5, 1), /bad size/);
});

Deno.test("png: volume slices are laid out and oriented as documented", () => {
  // [X, Y, Z] = [4, 3, 2], value encodes the voxel: marks in distinct corners.
  const [X, Y, Z] = [4, 3, 2];
  const vol = new Float32Array(X * Y * Z);
  const idx = (x: number, y: number, z: number) => (x * Y + y) * Z + z;
  vol[idx(X - 1, Y - 1, 1)] = 1; // right, anterior, superior corner
  const img = volumeSlices(vol, [X, Y, Z], { gap: 1, index: [X - 1, Y - 1, 1] });
  // panels: axial X×Y (4×3), coronal X×Z (4×2), sagittal Y×Z (3×2); width 4+1+4+1+3, height 3.
  assertEquals([img.width, img.height], [13, 3]);
  const at = (c: number, r: number) => img.pixels[r * img.width + c];
  // Axial: patient right on the left, anterior on top → top-left pixel.
  assertEquals(at(0, 0), 255);
  // Coronal: right on the left, superior on top → top-left of panel 2 (x0 = 5).
  assertEquals(at(5, 0), 255);
  // Sagittal: anterior on the left, superior on top → top-left of panel 3 (x0 = 10).
  assertEquals(at(10, 0), 255);
  const lit = [...img.pixels].filter((v) => v > 0).length;
  assertEquals(lit, 3);
  // Upscaling and windows.
  const up = volumeSlices(vol, [X, Y, Z], { gap: 0, upscale: 2 });
  assertEquals([up.width, up.height], [(4 + 4 + 3) * 2, 6]);
  const ramp = Float32Array.from({ length: 1000 }, (_, i) => i);
  const w = volumeSlices(ramp, [10, 10, 10], { window: "minmax", gap: 0 });
  assert(w.pixels.some((v) => v > 0) && w.pixels.some((v) => v < 255));
  const p = volumeSlices(ramp, [10, 10, 10], { window: { percentiles: [0, 50] }, gap: 0 });
  assert(p.pixels.filter((v) => v === 255).length > w.pixels.filter((v) => v === 255).length);
  assertThrows(() => volumeSlices(vol, [4, 3, 3]), /24 values for shape \[4, 3, 3\]/);
});

Deno.test("png: a phantom preview written to /tmp decodes", async () => {
  const [X, Y, Z] = [72, 88, 56];
  const vol = new Float32Array(X * Y * Z);
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++) {
        const u = (x - X / 2) / (X * 0.42), v = (y - Y / 2) / (Y * 0.45), w = (z - Z / 2) / (Z * 0.45);
        const r = u * u + v * v + w * w;
        let val = r < 1 ? 0.35 + 0.3 * (1 - r) : 0;
        // A bright "lesion" in the patient's right (+x), anterior (+y), superior (+z) part.
        const lx = x - X * 0.7, ly = y - Y * 0.7, lz = z - Z * 0.6;
        if (lx * lx + ly * ly + lz * lz < 36) val = 1;
        vol[(x * Y + y) * Z + z] = val;
      }
    }
  }
  const { png, width, height } = volumeSlicesPng(vol, [X, Y, Z], {
    window: { percentiles: [0, 99.5] },
    index: [Math.round(X * 0.7), Math.round(Y * 0.7), Math.round(Z * 0.6)],
    upscale: 2,
  });
  const d = decodePng(png);
  assertEquals([d.width, d.height, d.channels], [width, height, 1]);
  const out = Deno.env.get("LDM_PNG_OUT") ?? `${Deno.env.get("TMPDIR") ?? "/tmp"}/ldm_png_test_slices.png`;
  await Deno.writeFile(out, png);
});
