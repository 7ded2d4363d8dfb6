/**
 * Opt-in profile of the WASM backend (LDM_PROFILE=1; 2 splits convolutions by geometry): wall milliseconds per queued step, by op name, split
 * into steps the main thread ran alone and steps handed to the pool, plus the time spent draining the queue
 * (so the caller's wall time minus it is host-side recording). Off, the backend checks one constant per step.
 */

function envLevel(): number {
  try {
    return Number(Deno.env.get("LDM_PROFILE") ?? 0) || 0;
  } catch {
    return 0; // no env permission (a page)
  }
}

/** Whether the profile records (fixed at load). */
export const PROFILING: boolean = envLevel() >= 1;
/** LDM_PROFILE=2: convolution rows also carry their geometry (channels, input size, kernel, stride). */
export const PROFILE_SHAPES: boolean = envLevel() >= 2;

interface Row {
  calls: number;
  ms: number;
  pooled: number;
  pooledMs: number;
}

const rows = new Map<string, Row>();
let drainMs = 0;
let drains = 0;

/** Adds one step of `op` that took `ms`; `pooled` when workers took part. */
export function profileStep(op: string, ms: number, pooled: boolean): void {
  let r = rows.get(op);
  if (!r) rows.set(op, r = { calls: 0, ms: 0, pooled: 0, pooledMs: 0 });
  r.calls++;
  r.ms += ms;
  if (pooled) {
    r.pooled++;
    r.pooledMs += ms;
  }
}

/** Adds one drain of the queue. */
export function profileDrain(ms: number): void {
  drainMs += ms;
  drains++;
}

/** Forgets everything recorded so far. */
export function profileReset(): void {
  rows.clear();
  drainMs = 0;
  drains = 0;
}

/** The table (per `per` units, e.g. steps), most expensive first; null when profiling is off. */
export function profileTable(per = 1): string | null {
  if (!PROFILING) return null;
  const list = [...rows.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = list.reduce((s, [, r]) => s + r.ms, 0);
  const pad = (s: string, n: number) => s.padStart(n);
  const width = Math.max(28, ...list.map(([op]) => op.length + 1));
  const lines = [
    `${"op".padEnd(width)}${pad("calls", 8)}${pad("ms", 10)}${pad("us/call", 10)}${pad("%", 7)}${
      pad("pooled", 8)
    }${pad("pool ms", 10)}`,
  ];
  for (const [op, r] of list) {
    lines.push(
      `${op.padEnd(width)}${pad((r.calls / per).toFixed(0), 8)}${pad((r.ms / per).toFixed(2), 10)}${
        pad(((r.ms / r.calls) * 1000).toFixed(1), 10)
      }${pad(((100 * r.ms) / total).toFixed(1), 7)}${pad((r.pooled / per).toFixed(0), 8)}${
        pad((r.pooledMs / per).toFixed(2), 10)
      }`,
    );
  }
  const calls = list.reduce((s, [, r]) => s + r.calls, 0);
  lines.push(
    `steps ${(calls / per).toFixed(0)}, step total ${(total / per).toFixed(2)} ms, drain ${
      (drainMs / per).toFixed(2)
    } ms in ${(drains / per).toFixed(1)} drains`,
  );
  return lines.join("\n");
}
