import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { formatDuration, formatRate, formatValue, Progress, RunEta } from "../../recipe/progress.ts";
import { previewDue } from "../../recipe/train_diffusion.ts";

function clocked(tty: boolean, total?: number, intervalMs = 10_000) {
  let t = 0;
  const out: string[] = [];
  const p = new Progress({
    total,
    label: "epoch 1/3",
    tty,
    intervalMs,
    columns: 200,
    write: (s) => out.push(s),
    now: () => t,
  });
  return { p, out, advance: (ms: number) => (t += ms) };
}

Deno.test("progress: formatting helpers", () => {
  assertEquals(formatDuration(3.24), "3.2s");
  assertEquals(formatDuration(125), "2m05s");
  assertEquals(formatDuration(3723), "1h02m03s");
  assertEquals(formatDuration(Infinity), "?");
  assertEquals(formatRate(2.5), "2.50 it/s");
  assertEquals(formatRate(0.25), "4.00 s/it");
  assertEquals(formatRate(0), "? it/s");
  assertEquals(formatValue(0.012345), "0.01235");
  assertEquals(formatValue(1.5e-7), "1.500e-7");
  assertEquals(formatValue(0), "0.000");
});

Deno.test("progress: non-terminal prints plain lines at the interval, and a final line", () => {
  const { p, out, advance } = clocked(false, 10, 5000);
  for (let i = 1; i <= 10; i++) {
    advance(1000);
    p.update(i, { recon: 0.1 / i, kl: 1234.5 });
  }
  p.done();
  // First step prints, then every ≥5 s (steps 6), then done.
  assertEquals(out.length, 3);
  assert(out.every((l) => l.endsWith("\n") && !l.includes("\r") && !l.includes("\x1b")));
  assertMatch(
    out[0],
    /^epoch 1\/3 \| \[##\.+\] 1\/10 \| recon=0\.1000 kl=1235 \| 1\.00 it\/s \| 1\.0s<9\.0s\n$/,
  );
  assertMatch(out[1], /\] 6\/10 \| recon=0\.01667 .*\| 1\.00 it\/s \| 6\.0s<4\.0s\n$/);
  assertMatch(out[2], /\[#{20}\] 10\/10 .*\| 1\.00 it\/s \| 10\.0s\n$/);
});

Deno.test("progress: terminal redraws one line in place, throttled, newline at the end", () => {
  const { p, out, advance } = clocked(true, 100);
  for (let i = 1; i <= 100; i++) {
    advance(20); // 50 it/s; redraw at most every 100 ms
    p.tick({ loss: 0.5 });
  }
  p.done();
  assert(out.length >= 19 && out.length <= 22, `${out.length} redraws`);
  assert(out.every((l) => l.startsWith("\r\x1b[2K")));
  assert(out.slice(0, -1).every((l) => !l.endsWith("\n")));
  assert(out.at(-1)!.endsWith("\n"));
  assertMatch(out.at(-1)!, /100\/100 \| loss=0\.5000 \| 50\.00 it\/s \| 2\.0s/);
  assertMatch(out[5], /<1\.\ds/); // ETA shown while running
});

Deno.test("progress: unknown total shows a count, and long lines are trimmed on a terminal", () => {
  const out: string[] = [];
  const p = new Progress({ tty: true, columns: 30, write: (s) => out.push(s), now: () => 0 });
  p.update(7, { a_very_long_loss_name: 1, another_one: 2 });
  assertEquals(out[0].replace("\r\x1b[2K", "").length, 29);
  assertMatch(p.line(), /^7 \| a_very_long_loss_name=1\.000/);
});

Deno.test("progress: the whole run's ETA (epochs × steps, overheads included) is shown beside the epoch bar", () => {
  let t = 0;
  const eta = new RunEta(3 * 10, { now: () => t });
  assert(Number.isNaN(eta.remaining(0)));
  assertEquals(eta.text(0), "run 0/30 steps, ETA ?");
  t = 5000; // 5 steps in 5 s (validation time counts too)
  assertEquals(eta.remaining(5), 25);
  assertEquals(eta.text(5), "run 5/30 steps, ETA 25.0s");
  const out: string[] = [];
  const p = new Progress({
    total: 10,
    label: "diffusion epoch 1/3",
    tty: false,
    write: (s) => out.push(s),
    now: () => t,
    suffix: () => eta.text(5),
  });
  p.update(5);
  assertMatch(out[0], /^diffusion epoch 1\/3 \| \[#+\.+\] 5\/10 \| .* \| run 5\/30 steps, ETA 25\.0s\n$/);
});

Deno.test("preview synthesis follows its interval and never runs when disabled", () => {
  const due = (every: number) => [0, 1, 2, 3, 4, 5].filter((e) => previewDue(e, every));
  assertEquals(due(1), [0, 1, 2, 3, 4, 5]);
  assertEquals(due(2), [1, 3, 5]);
  assertEquals(due(100), []);
  assertEquals(due(1e9), [], "the demo's 'never' no longer samples at epoch 0");
  assertEquals(due(0), []);
  assertEquals(due(Infinity), []);
  assert(previewDue(99, 100) && !previewDue(100, 100));
});

Deno.test("progress: in a log, done() does not repeat the line just printed for the last step", () => {
  const { p, out, advance } = clocked(false, 3, 10_000);
  advance(1000);
  p.update(3, { loss: 1 });
  p.done();
  assertEquals(out.length, 1);
});
