/**
 * The regions of memory the engine maps for the guests of this process,
 * counted across guests and calls: each memory a guest holds, and each
 * async call in progress (its stack, which the engine keeps while the
 * call is suspended).
 *
 * Each such region takes memory maps of the system's (two: a memory's
 * reservation and pages, a stack and its guard), and Linux gives a process
 * 65,530 of them by default (`vm.max_map_count`); past them V8 ends the
 * whole process. Each guest held within its own limits, a host that kept
 * 32,000 guests of one memory, or 320 of a hundred, was ended ("Fatal
 * JavaScript out of memory", or a failed `munmap`), and so was one with
 * 34,000 async calls waiting in host imports ("Fatal process out of
 * memory: StackMemory"). So in this process a load is refused, and an
 * async call ends `out_of_memory` before it starts, once the regions held
 * would pass {@linkcode MAX_MAPPED_REGIONS}. A guest's memories count until
 * the garbage collector has taken its instance (or each memory it
 * exported or imported, which may outlive it); a call's stack, until the
 * call ends. The count is the process's: every copy of early-exit in it
 * counts into the same one (`process_wide.ts`).
 *
 * @module
 */

import { GuestLoadError } from "../load_errors.ts";
import { processWide } from "../process_wide.ts";

/**
 * The most memories and async calls in progress the guests of this process
 * may hold together: half the maps a Linux process gets by default,
 * leaving the rest to the host (its heap, its threads, its code).
 */
export const MAX_MAPPED_REGIONS = 16_384;

/**
 * The count, shared by every copy of early-exit in this process: the
 * regions held, and the memories counted already (an import shared by
 * guests counts once, whichever copy loaded them).
 */
interface Regions {
  held: number;
  readonly counted: WeakSet<WebAssembly.Memory>;
}

const regions = processWide<Regions>(
  "mapped-regions@1",
  () => ({ held: 0, counted: new WeakSet() }),
  (value): value is Regions =>
    typeof (value as Partial<Regions> | undefined)?.held === "number" &&
    (value as Regions).counted instanceof WeakSet,
);
const counted = regions.counted;
const released = new FinalizationRegistry<number>((count) => {
  regions.held -= count;
});

/**
 * How many turns of the event loop a load or call past the most waits for
 * the guests collected already to be counted out: the garbage collector's
 * finalizers run in turns of their own, which a loop of loads that only
 * awaits them never gives (dropping each guest, it was refused after
 * 16,384 loads).
 */
const TURNS_FOR_FINALIZERS = 3;

/** What is over the most, in messages. */
const WHAT_IS_HELD =
  "the memories of the guests alive and the async calls in progress in this process";

/** Whether `count` more fit, after a few turns for finalizers if need be. */
async function roomFor(count: number): Promise<boolean> {
  for (let turn = 0; turn < TURNS_FOR_FINALIZERS; turn++) {
    if (regions.held + count <= MAX_MAPPED_REGIONS) return true;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return regions.held + count <= MAX_MAPPED_REGIONS;
}

/**
 * Leaves `memory` out of every count: a memory of one page that cannot
 * grow, which the engine allocates without maps of its own (0.01 maps
 * each, measured, against 2 for one that may grow past a page), such as a
 * stop flag's.
 *
 * @param memory The memory.
 *
 * @example Usage
 * ```ts
 * import { leaveUncounted } from "./mapped_regions.ts";
 *
 * leaveUncounted(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }));
 * ```
 */
export function leaveUncounted(memory: WebAssembly.Memory): void {
  counted.add(memory);
}

/** The memories of one instantiation, counted before it happens. */
export interface CountedMemories {
  /** Ties the count to the instance, once made: held until it is collected. */
  hold(instance: WebAssembly.Instance): void;
  /** Gives the count back: the instantiation failed. */
  cancel(): void;
}

/**
 * Counts the memories an instantiation of `module` will hold, or refuses
 * it when the regions held would then pass {@linkcode MAX_MAPPED_REGIONS}.
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
 * import { countMemories, mappedRegions } from "./mapped_regions.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (memory 0))
 * const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 0]);
 * const module = new WebAssembly.Module(bytes);
 * const before = mappedRegions();
 * const memories = await countMemories(module, {}, 1, "a guest");
 * assert.equal(mappedRegions(), before + 1);
 * memories.hold(new WebAssembly.Instance(module, {}));
 * ```
 */
export async function countMemories(
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
  defined: number,
  label: string,
): Promise<CountedMemories> {
  const fresh = new Set<WebAssembly.Memory>();
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.kind !== "memory") continue;
    const memory = imports[entry.module]?.[entry.name];
    if (memory instanceof WebAssembly.Memory && !counted.has(memory)) {
      fresh.add(memory);
    }
  }
  const count = fresh.size + defined;
  if (!await roomFor(count)) throw overTheMost(label, count);
  regions.held += count;
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
      regions.held -= count;
      for (const memory of fresh) counted.delete(memory);
    },
  };
}

/**
 * Makes a memory for a guest that another loader instantiates (a
 * `FuelMeter`'s guest, whose stop flag turns its defined memories into
 * imports the meter makes, one per instantiation), counted as a guest's
 * memory is until the garbage collector takes it, or refused first when
 * the regions held are at {@linkcode MAX_MAPPED_REGIONS}. It cannot wait
 * turns for finalizers, as a load does: the engine asks for it in the
 * middle of an instantiation.
 *
 * @param descriptor The memory's type.
 * @param label The guest's name in messages.
 * @returns The memory.
 * @throws {GuestLoadError} With reason `limits`, at the most.
 *
 * @example Usage
 * ```ts
 * import { countedMemory, mappedRegions } from "./mapped_regions.ts";
 * import assert from "node:assert/strict";
 *
 * const before = mappedRegions();
 * const memory = countedMemory({ initial: 1 }, "a metered guest");
 * assert.equal(mappedRegions(), before + 1);
 * assert.equal(memory.buffer.byteLength, 65536);
 * ```
 */
export function countedMemory(
  descriptor: WebAssembly.MemoryDescriptor,
  label: string,
): WebAssembly.Memory {
  if (regions.held + 1 > MAX_MAPPED_REGIONS) throw overTheMost(label, 1);
  const memory = new WebAssembly.Memory(descriptor);
  regions.held++;
  counted.add(memory);
  released.register(memory, 1);
  return memory;
}

/** The refusal of `count` more regions for `label`. */
function overTheMost(label: string, count: number): GuestLoadError {
  return new GuestLoadError(
    "limits",
    `${label} would bring ${WHAT_IS_HELD} to ${
      regions.held + count
    }, more than the ${MAX_MAPPED_REGIONS} they may hold together (each takes the system's memory maps, and past them the engine ends the whole process)`,
    "let go of guests no longer needed (their memories count until the garbage collector takes them) and let calls end, or run guests with invokeIsolated, each in a process of its own",
  );
}

/**
 * Counts the stack of an async call about to start, at once when there is
 * room (no turn of the event loop, which every call would otherwise pay).
 * Give it back with {@linkcode giveCallStack} as the call ends.
 *
 * @returns Whether it was counted: `false` when the regions held are at
 *   {@linkcode MAX_MAPPED_REGIONS} (then ask {@linkcode takeCallStackSoon}).
 *
 * @example Usage
 * ```ts
 * import { giveCallStack, takeCallStack } from "./mapped_regions.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(takeCallStack());
 * giveCallStack(); // the call ended
 * ```
 */
export function takeCallStack(): boolean {
  if (regions.held + 1 > MAX_MAPPED_REGIONS) return false;
  regions.held++;
  return true;
}

/**
 * {@linkcode takeCallStack} after a few turns for finalizers, when there
 * was no room at once.
 *
 * @returns Whether it was counted.
 *
 * @example Usage
 * ```ts
 * import { giveCallStack, takeCallStackSoon } from "./mapped_regions.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(await takeCallStackSoon());
 * giveCallStack();
 * ```
 */
export async function takeCallStackSoon(): Promise<boolean> {
  return await roomFor(1) && takeCallStack();
}

/**
 * Gives back the stack a {@linkcode takeCallStack} counted: its call
 * ended, or never started.
 *
 * @example Usage
 * ```ts
 * import { giveCallStack, takeCallStack } from "./mapped_regions.ts";
 *
 * if (takeCallStack()) giveCallStack();
 * ```
 */
export function giveCallStack(): void {
  regions.held--;
}

/**
 * How many regions the guests of this process hold, as counted.
 *
 * @returns The count.
 *
 * @example Usage
 * ```ts
 * import { MAX_MAPPED_REGIONS, mappedRegions } from "./mapped_regions.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(mappedRegions() <= MAX_MAPPED_REGIONS);
 * ```
 */
export function mappedRegions(): number {
  return regions.held;
}
