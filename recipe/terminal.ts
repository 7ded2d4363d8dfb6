/** The terminal's width, for help text and progress lines. */

/** Columns of the terminal (Deno.consoleSize), or 100 when there is none (pipes, CI logs). */
export function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 100;
  }
}
