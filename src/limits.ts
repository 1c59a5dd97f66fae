/**
 * The host side of resource limits and of metered instantiation: checking
 * the `limits` option, writing the limits into a guest's bytes, and
 * refusing, before the engine allocates anything, a guest whose memories
 * or tables start above their limits or whose instantiation alone costs
 * more than its fuel budget.
 *
 * @module
 */

import { FuelExhausted, GuestLoadError } from "./errors.ts";
import { applyLimits, type ResourceLimits } from "./wasm/limits.ts";
import { ModuleInfo } from "./wasm/module.ts";
import { readSection } from "./wasm/module_sections.ts";
import { Patches } from "./wasm/patches.ts";
import { Reader } from "./wasm/reader.ts";
import { readSections } from "./wasm/sections.ts";
import { readLimits } from "./wasm/types.ts";

const PAGE = 65536;
import type { CostModel } from "./wasm/costs.ts";
import { type Footprint, footprintCost } from "./wasm/footprint.ts";

export type { ResourceLimits } from "./wasm/limits.ts";

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
  const checked: { memory?: number; tables?: number } = {};
  for (const [key, value] of Object.entries(limits)) {
    if (key !== "memory" && key !== "tables") {
      throw new TypeError(
        `${where}: limits.${key} is not a limit; use limits.memory (bytes per memory) or limits.tables (elements per table)`,
      );
    }
    if (value === undefined) continue;
    if (
      typeof value !== "number" || !Number.isSafeInteger(value) || value < 0
    ) {
      throw new RangeError(
        `${where}: limits.${key} must be a whole number from 0 to 2^53 - 1 (${
          key === "memory" ? "bytes" : "elements"
        }); got ${String(value)}`,
      );
    }
    checked[key] = value;
  }
  return checked.memory === undefined && checked.tables === undefined
    ? undefined
    : checked;
}

/**
 * Writes the limits into a guest's bytes, or refuses the guest when one of
 * its memories or tables starts above its limit.
 *
 * @param bytes The guest's bytes.
 * @param limits Its limits.
 * @param label The guest's name in messages.
 * @returns The bytes with every maximum within its limit.
 * @throws {GuestLoadError} With reason `limits`, for a minimum above its limit.
 * @throws {InvalidModule} When the bytes cannot be decoded.
 */
export function limitGuest(
  bytes: Uint8Array,
  limits: ResourceLimits,
  label: string,
): Uint8Array {
  const limited = applyLimits(bytes, limits);
  const over = limited.over;
  if (over === undefined) return limited.bytes;
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
 * Refuses a guest whose instantiation alone costs more than its budget:
 * its memories' and tables' initial sizes, its active segments and the
 * objects its constant expressions allocate, priced as the cost model
 * prices `memory.grow`, `memory.init`, `table.grow` and `array.new`.
 *
 * @param footprint What instantiating the guest does.
 * @param costs The guest's cost model.
 * @param budget Its fuel budget.
 * @param label The guest's name in messages.
 * @throws {FuelExhausted} When the budget cannot pay for it.
 */
export function checkInstantiation(
  footprint: Footprint,
  costs: CostModel,
  budget: number,
  label: string,
): void {
  if (budget === Infinity) return;
  const cost = footprintCost(footprint, costs);
  if (cost <= budget) return;
  const needs = cost === Infinity
    ? "an amount of fuel only known at instantiation (an allocation sized by an imported global)"
    : `${cost} fuel`;
  throw new FuelExhausted(
    budget,
    0,
    `guest ran out of fuel before it started: instantiating ${label} needs ${needs} for its memories, tables, segments and constant allocations, more than its budget of ${budget}; give it more fuel`,
  );
}

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
