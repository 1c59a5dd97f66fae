/**
 * What importing the runner's API does before any stop can be due: the
 * watchdog's thread started (creating a thread holds this one for tens of
 * milliseconds, hundreds on a busy machine, which no stop can cut short,
 * so it must not fall in a load whose stop may come meanwhile; see
 * `watchdog.ts`), and the loader's and the rewriter's code run once on a
 * small guest while that thread boots (`load_warmup.ts`).
 *
 * The command line calls it itself, and only when its run can be stopped
 * by more than the process's end: a WASI command run under fuel alone,
 * whose Ctrl-C ends the process as a native program's, needs neither, and
 * both cost a one-shot run of flite about 100 ms of CPU.
 *
 * @module
 */

import { loadWarmUpStatus, warmLoadPathAtImport } from "./load_warmup.ts";
import { startWatchdogAtImport } from "../watchdog/watchdog.ts";

/**
 * Starts the watchdog's thread and warms the load's code, once per
 * process; later calls do nothing.
 */
export function readyForStops(): void {
  startWatchdogAtImport();
  if (loadWarmUpStatus().runs === 0) warmLoadPathAtImport();
}
