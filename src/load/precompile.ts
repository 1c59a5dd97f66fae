/**
 * A stoppable guest's functions that are dear to compile, compiled on the
 * compile thread before its first call needs them.
 *
 * V8 compiles a function at its first call, on the calling thread, and no
 * check runs until that compile ends: a deadline or stop that falls in it
 * waits for it (a function of 1,024 `v128` locals and 42 `if`s took 4 to 7
 * ms of thread CPU at its first call, most of it page faults of the
 * compiler's 1.6 MB of memory). So a stoppable load asks the rewrite to
 * export a function that calls each function past an eighth of either
 * compile limit (`src/wasm/precompile.ts`), and hands the compiled module
 * to the compile thread, which calls it there on a stand-in instance whose
 * stop flag is set: the engine compiles each function as it is entered,
 * for every instance of the module, and its entry check traps (the memories
 * the guest imports get stand-ins of their declared limits). The load
 * waits for it, its stops watched: the work is on the other thread. The
 * export is not among the guest's exports.
 *
 * @module
 */

import {
  precompileElsewhere,
  type PrecompileMemory,
} from "./compile_thread.ts";
import type { Footprint } from "../wasm/footprint.ts";
import { precompileRefused } from "../meter/meter_precompile.ts";
import type { StopFlagImports } from "../wasm/instrument.ts";
import type { ImportEntry } from "../wasm/module.ts";

/** Each guest's precompile, for the tests to wait for. */
const started = new WeakMap<object, Promise<number>>();

/**
 * Starts the compile of a guest's dear functions on the compile thread.
 *
 * @param guest The loaded guest, for {@linkcode precompiled}.
 * @param module Its compiled module.
 * @param dear The rewrite's export that calls them, if it added one.
 * @param stopFlag The memories the host creates for it.
 * @param imports The guest's imports, whose memories get stand-ins of
 *   their declared limits.
 * @param footprint What the guest's instantiation allocates.
 * @returns How many functions were called, once the thread is done;
 *   `undefined` when there is nothing to do or no thread up to do it.
 */
export function startPrecompile(
  guest: object,
  module: WebAssembly.Module,
  dear: { export: string; functions: number } | undefined,
  stopFlag: StopFlagImports | undefined,
  imports: readonly ImportEntry[],
  footprint: Pick<Footprint, "memoryPages" | "tableElements">,
): Promise<number> | undefined {
  if (precompileRefused() || dear === undefined || stopFlag === undefined) {
    return undefined;
  }
  const memories: PrecompileMemory[] = stopFlag.memories.map((memory) => ({
    module: memory.module,
    name: memory.name,
    descriptor: { ...memory.descriptor },
    flag: memory.name === stopFlag.memory,
  }));
  for (const entry of imports) {
    const limits = entry.limits;
    if (entry.kind !== "memory" || limits === undefined) continue;
    const size = (pages: number) => limits.is64 ? BigInt(pages) : pages;
    memories.push({
      module: entry.module,
      name: entry.name,
      descriptor: {
        initial: size(limits.min),
        ...(limits.max === undefined ? {} : { maximum: size(limits.max) }),
        ...(limits.shared ? { shared: true } : {}),
        ...(limits.is64 ? { address: "i64" as const } : {}),
      },
      flag: false,
    });
  }
  const standIns = memories.some((memory) => !memory.flag);
  const done = precompileElsewhere(
    module,
    dear,
    memories,
    standIns || footprint.memoryPages > 0 || footprint.tableElements > 0,
  );
  if (done !== undefined) started.set(guest, done);
  return done;
}

/**
 * How many functions of a guest the compile thread called ahead, once it
 * has; `undefined` when none was asked for. For the tests.
 *
 * @param guest A loaded guest.
 * @returns The count, when the thread is done.
 *
 * @example Usage
 * ```ts
 * import { precompiled } from "./precompile.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(precompiled({}), undefined);
 * ```
 */
export function precompiled(guest: object): Promise<number> | undefined {
  return started.get(guest);
}
