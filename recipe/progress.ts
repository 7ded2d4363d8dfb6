/**
 * Progress reporting for long loops: step/total, loss terms, it/s and ETA. On a terminal one line is
 * redrawn in place (at most ~10 times a second); elsewhere (CI logs, files) a plain line is printed
 * every `intervalMs` and at the end.
 *
 * @module
 */
import { terminalColumns } from "./terminal.ts";

/** Options for {@link Progress}. */
export interface ProgressOptions {
  /** Number of steps, or undefined when unknown (no bar, no ETA). */
  total?: number;
  /** Prefix, e.g. "epoch 3/100". */
  label?: string;
  /** Output sink (default: Deno.stderr, synchronously). */
  write?: (text: string) => void;
  /** Redraw one line in place (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Non-terminal mode: least milliseconds between printed lines (default 10000). */
  intervalMs?: number;
  /** Terminal width used to trim the line (default from the console, else 100). */
  columns?: number;
  /** Clock in milliseconds (default `performance.now()`), for tests. */
  now?: () => number;
  /** Text appended to every line (e.g. the whole run's ETA, {@link RunEta}). */
  suffix?: () => string;
}

/** Formats seconds as `1h02m03s`, `2m03s` or `3.2s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0");
  return h ? `${h}h${mm}m${String(r).padStart(2, "0")}s` : `${mm}m${String(r).padStart(2, "0")}s`;
}

/** Formats a loss or metric compactly (4 significant digits; exponent form for tiny/huge values). */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3);
  return v.toPrecision(4);
}

/** Formats a rate as `it/s`, or `s/it` when slower than one step a second. */
export function formatRate(stepsPerSecond: number): string {
  if (!(stepsPerSecond > 0) || !Number.isFinite(stepsPerSecond)) return "? it/s";
  return stepsPerSecond >= 1
    ? `${stepsPerSecond.toFixed(2)} it/s`
    : `${(1 / stepsPerSecond).toFixed(2)} s/it`;
}

/** A progress line for one loop; call `update` per step (or `tick`) and `done` at the end. */
export class Progress {
  private readonly total?: number;
  private readonly label: string;
  private readonly write: (text: string) => void;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly columns: number;
  private readonly now: () => number;
  private readonly suffix?: () => string;
  private readonly start: number;
  // Recent (time, step) marks for a rate that follows the current speed, not the warm-up.
  private marks: [number, number][] = [];
  private step = 0;
  private terms: Record<string, number> = {};
  private lastDraw = -Infinity;
  private lastDrawnStep = -1;
  private finished = false;

  /** Starts timing now. */
  constructor(options: ProgressOptions = {}) {
    this.total = options.total;
    this.label = options.label ?? "";
    this.write = options.write ?? ((t) => {
      Deno.stderr.writeSync(new TextEncoder().encode(t));
    });
    this.tty = options.tty ?? safeIsTerminal();
    this.intervalMs = options.intervalMs ?? 10_000;
    this.columns = options.columns ?? terminalColumns();
    this.now = options.now ?? (() => performance.now());
    this.suffix = options.suffix;
    this.start = this.now();
    this.marks.push([this.start, 0]);
  }

  /** Sets the completed step count and the latest loss terms; redraws or prints if due. */
  update(step: number, terms: Record<string, number> = {}): void {
    this.step = step;
    this.terms = { ...this.terms, ...terms };
    const t = this.now();
    this.marks.push([t, step]);
    if (this.marks.length > 50) this.marks.shift();
    const due = this.tty ? t - this.lastDraw >= 100 : t - this.lastDraw >= this.intervalMs;
    if (due) this.draw(t);
  }

  /** Advances one step. */
  tick(terms: Record<string, number> = {}): void {
    this.update(this.step + 1, terms);
  }

  /** Steps per second over the recent window (0 before the first step). */
  rate(): number {
    const [t0, s0] = this.marks[0];
    const [t1, s1] = this.marks[this.marks.length - 1];
    return t1 > t0 ? ((s1 - s0) * 1000) / (t1 - t0) : 0;
  }

  /** The current line's text (no control characters). */
  line(): string {
    const t = this.now();
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    const total = this.total;
    if (total !== undefined && total > 0) {
      const frac = Math.min(1, this.step / total);
      const width = 20;
      const fill = Math.round(frac * width);
      parts.push(`[${"#".repeat(fill)}${".".repeat(width - fill)}] ${this.step}/${total}`);
    } else {
      parts.push(`${this.step}`);
    }
    const terms = Object.entries(this.terms).map(([k, v]) => `${k}=${formatValue(v)}`);
    if (terms.length) parts.push(terms.join(" "));
    const rate = this.rate();
    parts.push(formatRate(rate));
    const elapsed = (t - this.start) / 1000;
    if (total !== undefined && !this.finished && rate > 0) {
      parts.push(`${formatDuration(elapsed)}<${formatDuration(Math.max(0, total - this.step) / rate)}`);
    } else {
      parts.push(formatDuration(elapsed));
    }
    const suffix = this.suffix?.();
    if (suffix) parts.push(suffix);
    return parts.join(" | ");
  }

  /** Prints the final line (and a newline on a terminal). */
  done(terms: Record<string, number> = {}): void {
    if (this.finished) return;
    this.terms = { ...this.terms, ...terms };
    this.finished = true;
    // In a log, a line just printed for the same step need not be repeated.
    if (this.tty || this.lastDrawnStep !== this.step || Object.keys(terms).length) {
      this.draw(this.now(), true);
    }
  }

  /** Writes the line (in place on a terminal). */
  private draw(t: number, final = false): void {
    this.lastDraw = t;
    this.lastDrawnStep = this.step;
    let text = this.line();
    if (this.tty) {
      if (text.length > this.columns - 1) text = text.slice(0, this.columns - 1);
      this.write(`\r\x1b[2K${text}${final ? "\n" : ""}`);
    } else {
      this.write(`${text}\n`);
    }
  }
}

/**
 * The whole run's ETA across epochs: wall time per step so far in this process (validation, previews and
 * checkpoints included, so the estimate is honest) times the steps left (epochs × steps per epoch).
 */
export class RunEta {
  private readonly start: number;
  private readonly now: () => number;
  /** `totalSteps`: optimizer steps this process will run from now to the end of the run. */
  constructor(readonly totalSteps: number, options: { now?: () => number } = {}) {
    this.now = options.now ?? (() => performance.now());
    this.start = this.now();
  }
  /** Seconds left after `stepsDone` of `totalSteps` (NaN before the first step). */
  remaining(stepsDone: number): number {
    if (!(stepsDone > 0)) return NaN;
    const perStep = (this.now() - this.start) / 1000 / stepsDone;
    return Math.max(0, this.totalSteps - stepsDone) * perStep;
  }
  /** E.g. `run 12/300 steps, ETA 1h02m03s`. */
  text(stepsDone: number): string {
    return `run ${stepsDone}/${this.totalSteps} steps, ETA ${formatDuration(this.remaining(stepsDone))}`;
  }
}

function safeIsTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}
