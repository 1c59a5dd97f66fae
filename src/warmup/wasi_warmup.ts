/**
 * A stoppable `runWasi`'s code, run once ahead of a process's first.
 *
 * A process's first `runWasi` with a StopSignal ran 7 to 9 ms of code for
 * the first time before its first look at the stop (the options' checks,
 * the WASI instance, the imports built around it, the load's watch), so a
 * StopSignal set or a signal aborted as it began landed that late; the runs
 * after it take 1 to 2 ms there. {@linkcode warmWasiRuns} runs a tiny
 * command through the same paths: held and async, to its end and stopped
 * as it loads.
 *
 * @module
 */

import { StopSignal } from "../watchdog/stop_signal.ts";
import { runWasi } from "../wasi/wasi.ts";

/**
 * A WASI command that exits at once.
 *
 * ```wat
 * (module
 *   (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
 *   (memory (export "memory") 1)
 *   (func (export "_start") (call $exit (i32.const 0))))
 * ```
 */
// deno-fmt-ignore
export const EXITING_COMMAND: readonly number[] = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60,
  0x01, 0x7f, 0x00, 0x60, 0x00, 0x00, 0x02, 0x24, 0x01, 0x16, 0x77, 0x61,
  0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f,
  0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x09, 0x70, 0x72, 0x6f,
  0x63, 0x5f, 0x65, 0x78, 0x69, 0x74, 0x00, 0x00, 0x03, 0x02, 0x01, 0x01,
  0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x13, 0x02, 0x06, 0x6d, 0x65, 0x6d,
  0x6f, 0x72, 0x79, 0x02, 0x00, 0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74,
  0x00, 0x01, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0x10, 0x00, 0x0b,
];

const LABEL = "prepareStops' WASI command";

/**
 * Runs {@linkcode EXITING_COMMAND} four times: held (`async: false`) and
 * async, each to its end and stopped before it starts. A run that fails
 * leaves a first `runWasi` to run the code for the first time, as before.
 *
 * @returns How each run ended (`exited`, `aborted`; a failure's message),
 *   for tests.
 */
export async function warmWasiRuns(): Promise<string[]> {
  const ends: string[] = [];
  warmed = ends;
  for (const async of [false, true]) {
    for (const stopped of [false, true]) {
      const stop = new StopSignal();
      if (stopped) stop.stop(LABEL);
      try {
        const result = await runWasi(new Uint8Array(EXITING_COMMAND), {
          label: LABEL,
          async,
          stop,
          stdout: "ignore",
          stderr: "ignore",
        });
        ends.push(result.outcome);
      } catch (error) {
        // Only a warm-up: the first run runs the same code, and reports.
        ends.push(String(error));
      }
    }
  }
  return ends;
}

let warmed: string[] | undefined;

/**
 * How the last {@linkcode warmWasiRuns}' runs ended, if it ran: for tests.
 *
 * @returns Their outcomes, or `undefined`.
 */
export function wasiRunsWarmed(): string[] | undefined {
  return warmed && [...warmed];
}
