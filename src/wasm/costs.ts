/**
 * Turns a user's {@linkcode CostTable} into per-opcode price arrays.
 *
 * @module
 */

import { operatorNames, SPACES, Trait } from "./opcodes.ts";
import { readOption } from "../option_checks.ts";

/**
 * Operator prices. Every field is optional; costs are integers from 0 to
 * 2^31 - 1.
 *
 * @example Usage
 * ```ts
 * import type { CostTable } from "./costs.ts";
 *
 * const costs: CostTable = {
 *   operators: { "call_indirect": 10, "i64.div_s": 5 },
 *   perByte: 0,
 * };
 * ```
 */
export interface CostTable {
  /**
   * Per-operator costs by text-format name (`"i32.add"`, `"memory.fill"`);
   * these override both `default` and the free operators.
   *
   * @default {{}}
   */
  operators?: Record<string, number>;
  /**
   * The cost of every operator that is neither free nor in `operators`.
   *
   * @default {1}
   */
  default?: number;
  /**
   * The run-time cost per byte of `memory.fill`, `memory.copy` and
   * `memory.init`.
   *
   * @default {1}
   */
  perByte?: number;
  /**
   * The run-time cost per element of `table.fill`, `table.copy`,
   * `table.init`, `table.grow` and the GC array bulk operators; also per
   * field of a struct allocated, and per catch clause of a `try` or
   * `try_table` entered (a throw is matched against them one by one).
   *
   * @default {1}
   */
  perElement?: number;
  /**
   * The run-time cost per 64 KiB page of `memory.grow`.
   *
   * @default {1}
   */
  perPage?: number;
}

/** The price of every operator, resolved from a cost table. */
export interface CostModel {
  /** Static cost per single-byte opcode. */
  readonly single: Float64Array;
  /** Static cost per 0xFB opcode. */
  readonly gc: Float64Array;
  /** Static cost per 0xFC opcode. */
  readonly misc: Float64Array;
  /** Static cost per 0xFD opcode. */
  readonly simd: Float64Array;
  /** Static cost per 0xFE opcode. */
  readonly atomics: Float64Array;
  /** Run-time cost per byte of `memory.fill/copy/init`. */
  readonly perByte: number;
  /** Per element of table and GC array bulk operators, field, clause. */
  readonly perElement: number;
  /** Run-time cost per page of `memory.grow`. */
  readonly perPage: number;
}

/** The largest cost accepted anywhere in a cost table (2^31 - 1). */
export const MAX_COST = 0x7fff_ffff;

function checkCost(value: unknown, where: string): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < 0 ||
    value > MAX_COST
  ) {
    throw new TypeError(
      `Cannot use ${where} as a cost: expected an integer from 0 to ${MAX_COST}, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
  return value;
}

/**
 * The fields of a {@linkcode CostTable}: a misspelt one (`perbyte`) would
 * otherwise leave its price at the default without a word.
 */
const COST_TABLE_KEYS: readonly string[] = [
  "operators",
  "default",
  "perByte",
  "perElement",
  "perPage",
];

let defaultModel: CostModel | undefined;

/**
 * Resolves a cost table. Every operator costs `default` (1 unless given),
 * except the ones the operator table marks free, which cost 0; `operators`
 * overrides either by text name.
 *
 * @param table The user's table, or `undefined` for the defaults.
 * @returns The resolved model.
 * @throws {TypeError} For an unknown field or operator name, or a cost that
 *   is not an integer from 0 to 2^31 - 1.
 *
 * @example Usage
 * ```ts
 * import { resolveCosts } from "./costs.ts";
 * import assert from "node:assert/strict";
 *
 * const model = resolveCosts({ operators: { "i32.add": 3 } });
 * assert.equal(model.single[0x6a], 3);
 * assert.equal(model.single[0x01], 0); // nop
 * assert.throws(() => resolveCosts({ default: -1 }), TypeError);
 * ```
 */
export function resolveCosts(table?: CostTable): CostModel {
  if (table === undefined && defaultModel) return defaultModel;
  if (table !== undefined && (typeof table !== "object" || table === null)) {
    throw new TypeError(
      `Cannot use costs: expected an object, got ${
        table === null ? "null" : typeof table
      }`,
    );
  }
  if (table !== undefined) {
    table = readCostTable(table);
    for (const key in table) {
      if (!Object.hasOwn(table, key) || COST_TABLE_KEYS.includes(key)) continue;
      throw new TypeError(
        `Cannot use costs.${key}: a cost table has no such field; its fields are ${
          COST_TABLE_KEYS.join(", ")
        } (an operator's cost goes in costs.operators)`,
      );
    }
  }
  const base = checkCost(table?.default ?? 1, "costs.default");
  const prices = SPACES.map((space) => {
    const prices = new Float64Array(space.name.length);
    for (let code = 0; code < prices.length; code++) {
      prices[code] = space.trait[code]! & Trait.Free ? 0 : base;
    }
    return prices;
  });
  const overrides = table?.operators;
  if (overrides !== undefined) {
    if (typeof overrides !== "object" || overrides === null) {
      throw new TypeError("Cannot use costs.operators: expected an object");
    }
    const names = operatorNames();
    for (const [name, value] of Object.entries(overrides)) {
      const encodings = names.get(name);
      if (!encodings) {
        throw new TypeError(
          `Cannot set the cost of "${name}": no operator has that name`,
        );
      }
      const cost = checkCost(value, `costs.operators["${name}"]`);
      for (const [prefix, code] of encodings) {
        const index = SPACES.findIndex((space) => space.prefix === prefix);
        prices[index]![code] = cost;
      }
    }
  }
  const model: CostModel = {
    single: prices[0]!,
    gc: prices[1]!,
    misc: prices[2]!,
    simd: prices[3]!,
    atomics: prices[4]!,
    perByte: checkCost(table?.perByte ?? 1, "costs.perByte"),
    perElement: checkCost(table?.perElement ?? 1, "costs.perElement"),
    perPage: checkCost(table?.perPage ?? 1, "costs.perPage"),
  };
  if (table === undefined) defaultModel = model;
  return model;
}

/**
 * A cost table read once into a plain object, its `operators` too: a getter
 * or a proxy's trap that throws is one line naming `costs`, not its own
 * error, and a getter cannot price one pass one way and the next another.
 */
function readCostTable(table: CostTable): CostTable {
  return readOption("costs", "a plain object of costs", () => {
    const read: CostTable = { ...table };
    const operators: unknown = read.operators;
    if (typeof operators === "object" && operators !== null) {
      read.operators = { ...operators };
    }
    return read;
  });
}
