/**
 * Stopping a training run early and cleanly: Ctrl-C / SIGTERM, or (for a rank) the death of the launcher,
 * request a stop; the training loop honours it after the step in progress, writes one checkpoint and returns.
 *
 * A single process stops as soon as it has asked itself to. Ranks of a data-parallel job must all stop after
 * the same step, otherwise one would wait in an all-reduce for a partner that has left: each rank votes with
 * its local request in the gradient all-reduce it already makes every step (`nn/dist/gradient_hook.ts`), and a rank
 * stops only once that vote says some rank asked. Every rank sees the same all-reduced vote, so they agree.
 * At epoch boundaries (where a long validation or preview may have taken the request) the loop also settles
 * the vote with one tiny all-reduce of its own, so the ranks need not run another step first.
 *
 * @module
 */

/** Exit status of a run that was interrupted (128 + SIGINT, what a shell reports for Ctrl-C). */
export const INTERRUPTED_EXIT_CODE = 130;

/** A process's stop state; see the module comment. */
export class StopControl {
  /** Number of ranks that must agree (1: the local request is enough). */
  readonly ranks: number;
  #reason: string | null = null;
  #agreed = false;
  #honoured = false;
  #listeners = 0;
  #voteAcrossRanks: ((vote: number) => Promise<number>) | null;

  /**
   * `voteAcrossRanks` returns the mean of every rank's vote (one all-reduce); every rank must call
   * {@linkcode settle} at the same points.
   */
  constructor(ranks = 1, voteAcrossRanks?: (vote: number) => Promise<number>) {
    this.ranks = ranks;
    this.#voteAcrossRanks = voteAcrossRanks ?? null;
  }

  /** Asks for a stop (the first reason is kept). */
  request(reason: string): void {
    this.#reason ??= reason;
  }

  /** Why this process asked to stop, or null. */
  get reason(): string | null {
    return this.#reason;
  }

  /** This rank's vote for the all-reduce: 1 when it asks to stop, else 0. */
  get vote(): number {
    return this.#reason === null ? 0 : 1;
  }

  /** Records an all-reduced vote (the mean of every rank's `vote`): any positive value means stop. */
  agree(meanVote: number): void {
    if (meanVote > 0) this.#agreed = true;
  }

  /** Agrees now, with a collective of its own (called by every rank at the same points); a no-op alone. */
  async settle(): Promise<void> {
    if (this.ranks > 1 && this.#voteAcrossRanks) this.agree(await this.#voteAcrossRanks(this.vote));
  }

  /** What the loop asks after each step: the local request alone, or the ranks' agreement. */
  get shouldStop(): boolean {
    return this.ranks > 1 ? this.#agreed : this.#reason !== null;
  }

  /** Marks the stop as carried out (the run wrote its checkpoint and is ending early). */
  honour(): void {
    this.#honoured = true;
  }

  /** Whether the run ended early because of a stop. */
  get honoured(): boolean {
    return this.#honoured;
  }

  /** Whether a training loop is listening (it will honour a request); outside one there is nothing to save. */
  get listening(): boolean {
    return this.#listeners > 0;
  }

  /** Counts a listener in or out (see {@linkcode listenForInterrupts}). */
  setListening(on: boolean): void {
    this.#listeners += on ? 1 : -1;
  }
}

/** SIGUSR2 is how an interrupt reaches ranks under mpirun (which forwards it; it kills ranks on SIGINT). */
const SIGNALS = ["SIGINT", "SIGTERM", "SIGUSR2"] as const;

/**
 * While the returned disposer has not been called, SIGINT, SIGTERM and SIGUSR2 request a stop (with one
 * message); a second signal exits at once with status 130 (the previous checkpoint is intact: writes are
 * atomic).
 */
export function listenForInterrupts(stop: StopControl, log: (s: string) => void = console.log): () => void {
  let count = 0;
  const handler = (signal: string) => () => {
    if (++count > 1) Deno.exit(INTERRUPTED_EXIT_CODE);
    const label = signal === "SIGUSR2" ? "SIGINT via mpirun" : signal;
    stop.request(label);
    log(
      `interrupt (${label}): stopping after the step in progress, then writing a checkpoint and exiting ` +
        `(Ctrl-C again to quit at once)`,
    );
  };
  const installed: [Deno.Signal, () => void][] = [];
  stop.setListening(true);
  for (const signal of SIGNALS) {
    const h = handler(signal);
    try {
      Deno.addSignalListener(signal, h);
      installed.push([signal, h]);
    } catch { /* not supported on this platform */ }
  }
  let disposed = false;
  return () => {
    if (disposed) return;
    disposed = true;
    stop.setListening(false);
    for (const [signal, h] of installed) {
      try {
        Deno.removeSignalListener(signal, h);
      } catch { /* already removed */ }
    }
  };
}
