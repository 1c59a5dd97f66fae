/**
 * The memories of the guests this process holds, counted across guests.
 *
 * Each wasm memory takes memory maps of the system's (its reservation and
 * its pages), and Linux gives a process 65,530 of them by default
 * (`vm.max_map_count`); past them V8 ends the whole process. Each guest
 * held within its own limits, a host that kept 32,000 guests of one
 * memory, or 320 of a hundred, was ended ("Fatal JavaScript out of
 * memory", or a failed `munmap`). So a load in this process is refused
 * once the memories of the guests still alive would pass
 * {@linkcode MAX_LIVE_MEMORIES}; a guest's memories count until the
 * garbage collector has taken its instance (and each memory it exported
 * or imported, which may outlive it).
 *
 * @module
 */

import { GuestLoadError } from "../load_errors.ts";

/**
 * The most memories the guests instantiated in this process may hold
 * together: half the maps a Linux process gets by default, leaving the
 * rest to the host (its heap, its threads, its code).
 */
export const MAX_LIVE_MEMORIES = 16_384;

let live = 0;
/** Memories counted already: an import shared by guests counts once. */
const counted = new WeakSet<WebAssembly.Memory>();
const released = new FinalizationRegistry<number>((count) => {
  live -= count;
});

/** The memories of one instantiation, counted before it happens. */
export interface LiveMemories {
  /** Ties the count to the instance, once made: held until it is collected. */
  hold(instance: WebAssembly.Instance): void;
  /** Gives the count back: the instantiation failed. */
  cancel(): void;
}

/**
 * How many turns of the event loop a load past the most waits for the
 * guests collected already to be counted out: the garbage collector's
 * finalizers run in turns of their own, which a loop of loads that only
 * awaits them never gives (dropping each guest, it was refused after
 * 16,384 loads).
 */
const TURNS_FOR_FINALIZERS = 3;

/**
 * Counts the memories an instantiation of `module` will hold, or refuses
 * it when the guests alive would then hold more than
 * {@linkcode MAX_LIVE_MEMORIES}, after a few turns of the event loop in
 * which the guests collected are counted out.
 *
 * @param module The compiled module.
 * @param imports Its import object: the memories among them count once
 *   each, however many guests import them.
 * @param defined How many memories the module defines.
 * @param label The guest's name in messages.
 * @returns The count, to hold or cancel.
 * @throws {GuestLoadError} With reason `limits`, past the most.
 *
 * @example Usage
 * ```ts
 * import { countLiveMemories, liveMemories } from "./live_memories.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (memory 0))
 * const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 0]);
 * const module = new WebAssembly.Module(bytes);
 * const before = liveMemories();
 * const count = await countLiveMemories(module, {}, 1, "a guest");
 * assert.equal(liveMemories(), before + 1);
 * count.hold(new WebAssembly.Instance(module, {}));
 * ```
 */
export async function countLiveMemories(
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
  defined: number,
  label: string,
): Promise<LiveMemories> {
  const fresh = new Set<WebAssembly.Memory>();
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.kind !== "memory") continue;
    const memory = imports[entry.module]?.[entry.name];
    if (memory instanceof WebAssembly.Memory && !counted.has(memory)) {
      fresh.add(memory);
    }
  }
  const count = fresh.size + defined;
  for (let turn = 0; turn < TURNS_FOR_FINALIZERS; turn++) {
    if (live + count <= MAX_LIVE_MEMORIES) break;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  if (live + count > MAX_LIVE_MEMORIES) {
    throw new GuestLoadError(
      "limits",
      `${label} would bring the memories of the guests alive in this process to ${
        live + count
      }, more than the ${MAX_LIVE_MEMORIES} they may hold together (each takes the system's memory maps, and past them the engine ends the whole process)`,
      "let go of guests no longer needed (their memories count until the garbage collector takes them), or run guests with invokeIsolated, each in a process of its own",
    );
  }
  live += count;
  for (const memory of fresh) counted.add(memory);
  let settled = false;
  return {
    hold(instance) {
      if (settled) return;
      settled = true;
      for (const memory of fresh) released.register(memory, 1);
      // A defined memory the guest exports lives as long as that export.
      let hidden = defined;
      for (const value of Object.values(instance.exports)) {
        if (
          hidden > 0 && value instanceof WebAssembly.Memory &&
          !counted.has(value)
        ) {
          counted.add(value);
          released.register(value, 1);
          hidden--;
        }
      }
      if (hidden > 0) released.register(instance, hidden);
    },
    cancel() {
      if (settled) return;
      settled = true;
      live -= count;
      for (const memory of fresh) counted.delete(memory);
    },
  };
}

/**
 * How many memories the guests alive in this process hold, as counted.
 *
 * @returns The count.
 *
 * @example Usage
 * ```ts
 * import { liveMemories, MAX_LIVE_MEMORIES } from "./live_memories.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(liveMemories() <= MAX_LIVE_MEMORIES);
 * ```
 */
export function liveMemories(): number {
  return live;
}
