/**
 * The options of a {@linkcode FuelMeter}: what each one means, and the
 * names `new FuelMeter` accepts.
 *
 * @module
 */

import type { ResourceLimits } from "../module/limits.ts";
import type { CacheOption } from "../cache/rewrite_cache.ts";

/** Every option {@linkcode FuelMeter} takes. */
export const FUEL_METER_OPTION_NAMES: readonly (keyof FuelMeterOptions)[] = [
  "fuel",
  "poll",
  "refuel",
  "suspend",
  "resumable",
  "stopFlag",
  "limits",
  "stopsWaitFor",
  "cache",
];

/**
 * Options for a {@linkcode FuelMeter}.
 *
 * @example Usage
 * ```ts
 * import { FuelMeter, type FuelMeterOptions } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const bytes = await Deno.readFile(new URL("../../guest/compute.wasm", import.meta.url));
 * const options: FuelMeterOptions = { fuel: 5_000, resumable: false };
 * const meter = new FuelMeter(bytes, options);
 * assert.equal(meter.resumable, false);
 * ```
 */
export interface FuelMeterOptions {
  /**
   * The starting budget. Default: unlimited (`Infinity`).
   *
   * `false` makes a *deadline-only* meter: the guest counts no fuel at all
   * and only reads its stop flag at every loop header and function entry
   * (but that of a short function only direct calls reach, which its
   * callers' checks cover) and between the chunks of a bulk operator,
   * trapping at once when it is set, so that {@linkcode FuelMeter.run}'s
   * `timeout`, `stop` and `signal`, and {@linkcode FuelMeter.stop}, still
   * stop it whatever it does, with the cheapest checks there are. Choose it for deadlines on a
   * library you run as it is (an interpreter, a database); keep a budget
   * when you need a count or a cap on the work. Its runs take no `fuel`,
   * report none, and have no grace: a stop is a hard one, after which
   * every call back into the guest traps until `run` returns (as with
   * `grace: 0`). It needs the module's bytes, takes no `poll`, `refuel`,
   * `suspend`, `resumable: false`, `stopFlag: false` or `stopsWaitFor`
   * list, and makes no no-stop zones.
   */
  fuel?: number | false;
  /**
   * Called each time the guest asks for fuel, before any is granted: at
   * least once a slice. Return `true` to stop the guest now (record why
   * first); it then traps at once. May return a promise, which suspends the
   * guest until it settles; that needs JSPI and a call made through
   * `WebAssembly.promising`.
   */
  poll?: () => boolean | Promise<boolean>;
  /**
   * Called when the tank cannot pay for the next block, with the shortfall.
   * Return more fuel to carry on where the guest stopped, or 0 to let it run
   * out. May return a promise, under the same terms as `poll`.
   */
  refuel?: (shortfall: number) => number | Promise<number>;
  /**
   * Whether the hooks may suspend the guest (JSPI). V8 refuses a plain call
   * into a module whose import is suspending, even when it does not
   * suspend, so an instance serves either plain calls or promising ones:
   * such a meter's runs are `runAsync`'s (`run` and `wrapExports`, which
   * call plainly, throw a `TypeError`). A module with a start function,
   * which `attach` calls plainly, is refused with a `TypeError` when the
   * guest resumes (the default): its first check would call the suspending
   * import there.
   */
  suspend?: boolean;
  /**
   * Whether the guest can ask for more fuel and resume (slices, deadlines,
   * async yields, refuel), or traps as soon as its fuel is spent. A guest
   * that cannot resume gets its whole budget at once and runs markedly
   * faster in tight loops (see `InstrumentOptions.resumable`); `poll` and
   * `refuel` are then never called. Default `true`. Ignored when the meter
   * is given an already instrumented module, which says for itself.
   */
  resumable?: boolean;
  /**
   * Whether the guest also checks a stop flag at every function entry and
   * loop header, so that {@linkcode FuelMeter.run}'s `timeout`, `stop` and
   * `signal` stop it whatever it does: a loop the cost table makes free, a
   * gibibyte `memory.fill` (run in checked chunks), a failed `memory.grow`
   * charged more than a slice. The flag's imports come in `meter.imports`,
   * with the memories the module defined (a fresh one for each instance).
   * Without it, `run` looks at the clock only when the guest asks for fuel.
   * Default `true` for a guest that can resume; ignored when the meter is
   * given an already instrumented module, whose host supplies the flag.
   */
  stopFlag?: boolean;
  /**
   * How large the module's memories and tables may get (see
   * `GuestOptions.limits`): written into its bytes, so that a grow past a
   * limit returns -1; a module whose memory or table starts above its limit
   * is refused with a `GuestLoadError` (reason `limits`). Needs the
   * module's bytes, not what `instrument()` returned. Without `tables`,
   * the module's own tables may grow to 1,000,000 elements together, given
   * its bytes (`instrument()`'s output is not held to it).
   */
  limits?: ResourceLimits;
  /**
   * Functions a stop waits for the guest to leave (*no-stop zones*), by
   * export name or function index, besides the module's exported
   * allocator (`malloc`, `free`, `realloc`, `_malloc`,
   * `emscripten_builtin_malloc`, `__wbindgen_malloc`, ...), which is one by
   * default. A stop (fuel, deadline, signal, {@linkcode FuelMeter.stop})
   * that comes while the guest is inside one is put off and lands at the
   * guest's first check after it leaves, so that it never cuts a heap
   * update in half for the library's cleanup to trip over. The wait is
   * bounded by guest work: the guest spends the call's `grace` fuel on it,
   * 1,000,000 at most (each loop pass counting at least 1, each check
   * between a bulk operator's chunks 65,536, which the grace gets back),
   * and 100 ms by the clock as a backstop, then the stop lands where it is
   * and the run's outcome says so (`stoppedInZone`: take the heap as past
   * repair).
   * `false` makes no zones at all. Needs a guest that can resume; ignored
   * when the meter is given an already instrumented module, which has its
   * zones written in.
   */
  stopsWaitFor?: readonly (string | number)[] | false;
  /**
   * A directory (or a `RewriteCache`) to keep the rewrite in, so that the
   * next process metering the same bytes with the same options reads it
   * rather than rewriting: see {@linkcode FuelMeter.create}, the only way
   * to make a meter with one (the cache is read asynchronously).
   */
  cache?: CacheOption;
}
