/**
 * The command line's warm-up before a run with `--timeout`: what a
 * process's first load does once, done before the run's deadline starts.
 *
 * @module
 */

import { STOP_PATH_WARM_UP_GUEST } from "../load/stop_path_warmup.ts";
import { loadStopOutcome, START_FUNCTION } from "../call/outcome.ts";
import { loadGuestWith } from "../load/load_guest.ts";
import { FEATURES_WARM_UP_GUEST } from "../warmup/load_warmup.ts";

/**
 * Loads tiny guests as the run will load its own (async, metered, with a
 * signal), so that what a process's first such load does once holds no
 * stop of the run: its first instantiation alone held the thread 10 to 11
 * ms (the runner's async imports made for the first time), and the first
 * rewrite's steps up to 6 ms, where a 5 ms deadline landed 4 to 5 ms late
 * in the median. One has the tables, bulk operators and exceptions whose
 * rewrite takes paths of its own (a `table.fill` guest's deadline: p50
 * 1.0 to 1.6 ms late without it, 0.7 to 0.8 with). The last load is
 * stopped as a deadline stops the run's, in its first wait: the first stop
 * of a load ran its code for the first time, 0.3 ms and more between the
 * abort and the run's report. A failure is only a warm-up's: the run's own
 * load says what is wrong.
 */
export async function warmFirstLoad(): Promise<void> {
  const guests = [
    STOP_PATH_WARM_UP_GUEST,
    new Uint8Array(FEATURES_WARM_UP_GUEST),
    STOP_PATH_WARM_UP_GUEST,
  ];
  for (const [index, bytes] of guests.entries()) {
    const deadline = new AbortController();
    const load = loadGuestWith(bytes, {
      label: "the command line's warm-up",
      async: true,
      fuel: Infinity,
      signal: AbortSignal.any([new AbortController().signal, deadline.signal]),
    }, {});
    if (index === guests.length - 1) {
      deadline.abort(new DOMException("warm-up", "TimeoutError"));
    }
    try {
      await load;
    } catch (error) {
      // As the run's own catch reads its load's stop, once before it counts.
      loadStopOutcome(START_FUNCTION, error);
    }
  }
}
