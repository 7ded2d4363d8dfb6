import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { crc32c, encodeEvent, maskedCrc32c, TfEventWriter, tfRecord } from "../../recipe/tfevents.ts";
import { decodeProto, f32, f64, type Field, get, readRecords } from "./_tfevents_read.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("tfevents: CRC32C known vectors", () => {
  assertEquals(crc32c(enc("123456789")), 0xe3069283);
  assertEquals(crc32c(new Uint8Array(0)), 0);
  assertEquals(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  assertEquals(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43); // RFC 3720: 32 bytes of 0xFF
  assertEquals(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e); // ascending
  const c = crc32c(enc("123456789"));
  assertEquals(maskedCrc32c(enc("123456789")), ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0);
});

Deno.test("tfevents: framing round-trips", () => {
  const a = tfRecord(enc("hello"));
  assertEquals(a.length, 16 + 5);
  const recs = readRecords(new Uint8Array([...a, ...tfRecord(new Uint8Array(0)), ...tfRecord(enc("xyz"))]));
  assertEquals(recs.map((r) => new TextDecoder().decode(r)), ["hello", "", "xyz"]);
});

Deno.test("tfevents: scalar event encodes Event{wall_time, step, summary{value{tag, simple_value}}}", () => {
  const e = encodeEvent({
    wallTime: 1700000000.25,
    step: 300,
    values: [{ tag: "train/loss", simpleValue: 0.125 }],
  });
  const fs = decodeProto(e);
  assertEquals(fs.map((f) => [f.field, f.wire]), [[1, 1], [2, 0], [5, 2]]);
  assertEquals(f64(get(fs, 1) as Uint8Array), 1700000000.25);
  assertEquals(get(fs, 2), 300);
  const summary = decodeProto(get(fs, 5) as Uint8Array);
  assertEquals(summary.length, 1);
  const value = decodeProto(summary[0].value as Uint8Array);
  assertEquals(new TextDecoder().decode(get(value, 1) as Uint8Array), "train/loss");
  assertEquals(f32(get(value, 2) as Uint8Array), 0.125);
  // Large steps use multi-byte varints.
  assertEquals(get(decodeProto(encodeEvent({ wallTime: 0, step: 2 ** 40 + 3 })), 2), 2 ** 40 + 3);
  assertThrows(() => encodeEvent({ wallTime: 0, step: -1 }), /non-negative integer/);
});

Deno.test("tfevents: writer file name, version record, scalars and images parse back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const w = new TfEventWriter(`${dir}/logs/ae`, { hostname: "testhost", now: () => 1234.5 });
    assert(w.path.endsWith("/logs/ae/events.out.tfevents.1234.testhost"), w.path);
    w.addScalar("train_recon_loss_iter", 0.5, 1);
    w.addScalar("train_recon_loss_iter", 0.25, 2);
    const png = new Uint8Array([1, 2, 3, 4]);
    w.addImage("val_img", png, 7, 9, 3, 1);
    w.close();
    assertThrows(() => w.addScalar("x", 1, 1), /closed/);
    // A second writer in the same second does not clobber the first.
    const w2 = new TfEventWriter(`${dir}/logs/ae`, { hostname: "testhost", now: () => 1234.5 });
    w2.close();
    assert(w2.path !== w.path);

    const recs = readRecords(await Deno.readFile(w.path)).map(decodeProto);
    assertEquals(recs.length, 4);
    assertEquals(new TextDecoder().decode(get(recs[0], 3) as Uint8Array), "brain.Event:2");
    assertEquals(f64(get(recs[0], 1) as Uint8Array), 1234.5);
    const scalar = (r: Field[]) => {
      const v = decodeProto(decodeProto(get(r, 5) as Uint8Array)[0].value as Uint8Array);
      return [new TextDecoder().decode(get(v, 1) as Uint8Array), f32(get(v, 2) as Uint8Array), get(r, 2)];
    };
    assertEquals(scalar(recs[1]), ["train_recon_loss_iter", 0.5, 1]);
    assertEquals(scalar(recs[2]), ["train_recon_loss_iter", 0.25, 2]);
    const value = decodeProto(decodeProto(get(recs[3], 5) as Uint8Array)[0].value as Uint8Array);
    assertEquals(new TextDecoder().decode(get(value, 1) as Uint8Array), "val_img");
    const img = decodeProto(get(value, 4) as Uint8Array);
    assertEquals([get(img, 1), get(img, 2), get(img, 3)], [7, 9, 1]);
    assertEquals(get(img, 4), png);
    assertEquals(get(recs[3], 2), 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tfevents: buffered records reach the file after the flush interval", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let t = 100;
    const w = new TfEventWriter(dir, { hostname: "h", now: () => t, flushIntervalMs: 1000 });
    const size = () => Deno.statSync(w.path).size;
    const afterHeader = size();
    assert(afterHeader > 0);
    w.addScalar("a", 1, 1);
    assertEquals(size(), afterHeader); // buffered
    t += 2;
    w.addScalar("a", 2, 2);
    assert(size() > afterHeader); // interval passed → written
    w.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
