/**
 * The `limits` option: checked, written into a guest's bytes (with the
 * defaults that bound what it leaves unset), and shared out among an
 * isolated child's memories. A guest whose memories or tables start above
 * their limits is refused before the engine allocates anything. The caps
 * on what instantiation alone may do are in `instance_size.ts`.
 *
 * @module
 */

import { GuestLoadError } from "../errors.ts";
import { readOption, showValue } from "../option_checks.ts";
import {
  joinLimitsSteps,
  type LimitsPlan,
  planLimitsSteps,
  type ResourceLimits,
} from "../wasm/limits.ts";
import { ModuleInfo } from "../wasm/module.ts";
import { readSection } from "../wasm/module_sections.ts";
import { Patches } from "../wasm/patches.ts";
import { Reader } from "../wasm/reader.ts";
import { readSections } from "../wasm/sections.ts";
import { runSteps, type Steps } from "../wasm/steps.ts";
import { readLimits } from "../wasm/types.ts";

const PAGE = 65536;

export type { ResourceLimits } from "../wasm/limits.ts";

/**
 * Checks the `limits` option.
 *
 * @param limits The option as given.
 * @param where The function it was given to, for messages.
 * @returns The limits, or `undefined` when none apply.
 * @throws {TypeError} When it is not an object of the known keys.
 * @throws {RangeError} When a limit is not a whole number, 0 or more.
 */
export function checkLimits(
  limits: unknown,
  where: string,
): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  if (typeof limits !== "object" || limits === null) {
    throw new TypeError(
      `${where}: limits must be an object such as { memory: 16_777_216, tables: 10_000 }; got ${
        limits === null ? "null" : typeof limits
      }`,
    );
  }
  const checked: {
    memory?: number;
    tables?: number;
    arrays?: number;
    heap?: number;
  } = {};
  const entries = readOption(
    `${where}: limits`,
    "a plain object such as { memory: 16_777_216, tables: 10_000 }",
    () => Object.entries(limits),
  );
  for (const [key, value] of entries) {
    if (
      key !== "memory" && key !== "tables" && key !== "arrays" &&
      key !== "heap"
    ) {
      throw new TypeError(
        `${where}: limits.${key} is not a limit; use limits.memory (bytes per memory), limits.tables (elements per table), limits.arrays (bytes per GC array) or limits.heap (bytes of the host's heap)`,
      );
    }
    if (value === undefined) continue;
    if (
      typeof value !== "number" || !Number.isSafeInteger(value) || value < 0
    ) {
      throw new RangeError(
        `${where}: limits.${key} must be a whole number from 0 to 2^53 - 1 (${
          key === "tables" ? "elements" : "bytes"
        }); got ${showValue(value)}`,
      );
    }
    checked[key] = value;
  }
  return checked.memory === undefined && checked.tables === undefined &&
      checked.arrays === undefined && checked.heap === undefined
    ? undefined
    : checked;
}

/**
 * Writes the limits into a guest's bytes, or refuses the guest when one of
 * its memories or tables starts above its limit. Without `limits.tables`,
 * its own tables may grow to {@linkcode DEFAULT_TABLE_ELEMENTS} together;
 * without `limits.memory`, its own memories to
 * {@linkcode DEFAULT_MEMORY_BYTES}.
 *
 * @param bytes The guest's bytes.
 * @param limits Its limits, if any.
 * @param label The guest's name in messages.
 * @returns The bytes with every maximum within its limit.
 * @throws {GuestLoadError} With reason `limits`, for a minimum above its limit.
 * @throws {InvalidModule} When the bytes cannot be decoded.
 */
export function limitGuest(
  bytes: Uint8Array,
  limits: ResourceLimits | undefined,
  label: string,
): Uint8Array {
  return runSteps(limitGuestSteps(bytes, limits, label));
}

/**
 * {@linkcode limitGuest} in steps, for a load that watches a stop.
 *
 * @param bytes The guest's bytes.
 * @param limits The limits, if any.
 * @param label The guest's name in messages.
 * @returns The steps, which return the limited bytes.
 * @throws {GuestLoadError} With reason `limits`, for a minimum above its limit.
 * @throws {InvalidModule} When the sections it reads cannot be decoded.
 */
export function* limitGuestSteps(
  bytes: Uint8Array,
  limits: ResourceLimits | undefined,
  label: string,
): Steps<Uint8Array> {
  return yield* joinLimitsSteps(
    yield* planGuestLimitsSteps(bytes, limits, label),
  );
}

/**
 * What {@linkcode limitGuestSteps} would write into a guest's bytes, read
 * in its steps, for a load that writes it later, or over the bytes
 * themselves (`joinLimitsInPlaceSteps`).
 *
 * @param bytes The guest's bytes.
 * @param limits The limits, if any.
 * @param label The guest's name in messages.
 * @returns The steps, which return the plan.
 * @throws {GuestLoadError} With reason `limits`, for a minimum above its limit.
 * @throws {InvalidModule} When the sections it reads cannot be decoded.
 */
export function* planGuestLimitsSteps(
  bytes: Uint8Array,
  limits: ResourceLimits | undefined,
  label: string,
): Steps<LimitsPlan> {
  const plan = yield* planLimitsSteps(bytes, {
    ...limits,
    ...(limits?.tables === undefined
      ? { tablesTogether: DEFAULT_TABLE_ELEMENTS }
      : {}),
    ...(limits?.memory === undefined
      ? { memoriesTogether: DEFAULT_MEMORY_BYTES }
      : {}),
  });
  const over = plan.over;
  if (over === undefined) return plan;
  if (over.together !== undefined) {
    const { memories, largest } = over.together;
    throw new GuestLoadError(
      "limits",
      `${label} needs ${
        memories === 1
          ? `memory ${over.index} to start at ${over.minimum} bytes`
          : `its ${memories} memories to start at ${over.minimum} bytes together`
      }, more than the ${over.limit} a guest's own memories may hold together when limits.memory is not set`,
      `set limits.memory (the most bytes each memory may hold, which replaces this default) to at least ${largest}, or give the guest smaller memories`,
    );
  }
  const what = `${over.imported ? "imported " : ""}${over.kind} ${over.index}`;
  const unit = over.kind === "memory" ? "bytes" : "elements";
  const option = over.kind === "memory" ? "limits.memory" : "limits.tables";
  throw new GuestLoadError(
    "limits",
    `${label} needs ${what} to start at ${over.minimum} ${unit}, more than ${option} (${over.limit})`,
    `raise ${option} to at least ${over.minimum}, or give the guest a smaller ${over.kind}`,
  );
}

/**
 * The most bytes one GC array a guest allocates by length may take when it
 * is loaded to be stopped (a deadline, `signal` or `stop`), unless
 * `limits.arrays` says otherwise. The engine allocates and fills an array
 * in one step that no check interrupts, on fresh pages the kernel faults in
 * as it zeroes them: on a 2-core VM, about 12 µs of CPU a 4 KiB page, so 8
 * MiB (an earlier cap) took 24 to 32 ms and a guest keeping such arrays
 * had its stops 15 to 60 ms late; 1 MiB (the cap before) about 4 ms, its
 * sync stops p99 6.7 ms late on a quiet machine; 256 KiB about 1 ms (12 to
 * 18 µs a page), its stops p99 1.7 ms late. An `array.new_default` of 1e8 elements landed 370
 * to 660 ms past its deadline.
 */
export const DEFAULT_ARRAY_BYTES = 262_144;

/**
 * The most elements a guest's own tables may grow to together when its
 * `limits` set no `tables`: `table.grow` past it returns -1, as at a
 * declared maximum (each table may grow by an even share of what their
 * minimums leave). The host's garbage collector walks every element at
 * each major collection, and its pause, which no stop can cut short,
 * grows with them: a forced full collection took about 5 to 6 ms with
 * 1,000,000 funcref elements, 8 to 12 ms with 2,000,000 and 30 to 40 ms
 * with 10,000,000 (the engine's largest table). Real guests' tables hold
 * from about a hundred elements to ten thousand (esbuild's: 9,403).
 */
export const DEFAULT_TABLE_ELEMENTS = 1_000_000;

/**
 * The most bytes a guest's own linear memories may grow to together when
 * its `limits` set no `memory`: 4 GiB, what one 32-bit memory may reach, so
 * a guest of one such memory is unchanged. In process, memories are the
 * host's memory, and nothing else bounds them: a guest of 100 memories
 * (the most it may have) could otherwise grow to 400 GiB, and one 64-bit
 * memory to the engine's 16 GiB, until the system's out-of-memory killer
 * ends the host. Each own memory may grow by an even share of what their
 * minimums leave (a declared maximum, so `memory.grow` past it returns -1);
 * a guest whose own memories start above it together is refused. An
 * imported memory keeps the maximum its maker gave it. `limits.memory`
 * replaces this default with a bound on each memory.
 */
export const DEFAULT_MEMORY_BYTES = 4 * 1024 * 1024 * 1024;

/**
 * Holds a guest's linear memories together to `total` bytes, for an
 * isolated child whose heap limit must bound them too: each of its `n`
 * memories (imported or defined) gets `total / n`, or `limits.memory` where
 * that is smaller. A memory that starts above its share is refused here,
 * before a child is started.
 *
 * @param bytes The guest's bytes.
 * @param limits The limits given, if any.
 * @param total The most bytes all its memories may hold together.
 * @param option How the caller names what set `total`, for messages.
 * @param label The guest's name in messages.
 * @returns The limits to load the guest with.
 * @throws {GuestLoadError} With reason `limits`, for a memory that starts above its share.
 * @throws {InvalidModule} When the sections it reads cannot be decoded.
 */
export function shareMemory(
  bytes: Uint8Array,
  limits: ResourceLimits | undefined,
  total: number,
  option: string,
  label: string,
): ResourceLimits {
  // Every memory's declared minimum in pages, imports first: read, not
  // rewritten (the child writes the limits in).
  const info = new ModuleInfo();
  const minimums: number[] = [];
  for (const { id, start, end } of readSections(bytes)) {
    if (id === 1 || id === 2) {
      readSection(info, id, new Reader(bytes, start, end), new Patches());
    } else if (id === 5) {
      const r = new Reader(bytes, start, end);
      const count = r.count("memory", 2);
      for (let i = 0; i < count; i++) minimums.push(readLimits(r).min);
    }
  }
  const imported = info.imports.filter((entry) => entry.kind === "memory");
  minimums.unshift(...imported.map((entry) => entry.limits!.min));
  const count = Math.max(1, minimums.length);
  const share = Math.floor(total / count);
  // A stricter limits.memory holds, and the child refuses by it as usual.
  if (limits?.memory !== undefined && limits.memory <= share) return limits;
  const index = minimums.findIndex((pages) => pages * PAGE > share);
  if (index >= 0) {
    const what = `${index < imported.length ? "imported " : ""}memory ${index}`;
    const of = count === 1 ? "" : `, its share of ${count} memories`;
    const minimum = minimums[index]! * PAGE;
    throw new GuestLoadError(
      "limits",
      `${label} needs ${what} to start at ${minimum} bytes, more than ${option} allows it (${share} bytes${of})`,
      `raise ${option} to at least ${
        Math.ceil(minimum * count / 1048576)
      }, or give the guest a smaller memory`,
    );
  }
  return { ...limits, memory: share };
}
