/**
 * Fuel metering by rewriting a WebAssembly binary, so that the guest counts
 * its own work and stops when the host says so.
 *
 * ## What is added
 *
 * - One mutable `i64` global, the fuel counter, starting at 0 and exported
 *   under {@linkcode InstrumentedModule.fuelExport} (`"early-exit:fuel"`,
 *   suffixed `-1`, `-2`, … if the guest already exports that name).
 * - One function import, `out_of_fuel(counter: i64, cost: i64) -> i64`, from
 *   module {@linkcode InstrumentedModule.importModule} (`"early-exit"`,
 *   suffixed likewise if the guest already imports from that module). It is
 *   appended after the guest's imports, so every defined function's index
 *   grows by one; calls, `ref.func`, element segments, exports, the start
 *   function and the `name` section are rewritten to match.
 * - One defined function (appended after the guest's) holding the slow
 *   path, and two function types (appended last to the type section).
 * - Per self-recursive function that qualifies, a register copy (see
 *   `register.ts`), appended after the slow path with its own type: the
 *   original's calls to itself go to the copy, which takes the fuel as an
 *   extra `i64` parameter and gives it back as an extra result, so that
 *   checks along the recursion are register arithmetic instead of a store
 *   and a load per call. Both count the same; the counter is written before
 *   anything in the copy that can trap or call, so fuel stays exact.
 * - Sometimes a few empty functions, appended last and never called: checks
 *   push small bodies past the 50 bytes under which V8 counts a body as
 *   small, and V8 gives a module with fewer small bodies less inlining
 *   budget (see `paddingFunctions`).
 * - Per instrumented function, an `i64` scratch local `$f` (plus `$d: i64`
 *   and `$n: i32` when it has bulk operators), appended after its locals.
 *
 * Everything else, unknown custom sections included, is copied byte for
 * byte. The guest cannot reach any of the added items: every global,
 * function, type, local, table and memory index it uses is checked against
 * the original module, and an out-of-range one is an {@linkcode InvalidModule}.
 *
 * ## The check
 *
 * A check of cost `c` runs
 * `fuel -= c; if (fuel < 0) { fuel = out_of_fuel(fuel, c); if (fuel < 0) unreachable }`,
 * compiled as `global.get $fuel; i64.const c; i64.sub; local.tee $f;
 * global.set $fuel; local.get $f; i64.const 0; i64.lt_s; if; local.get $f;
 * i64.const c; call $slow; end`, where `$slow` calls `out_of_fuel`, stores
 * its result and traps with `unreachable` if it is negative. The host hands
 * out fuel by returning a non-negative counter and stops the guest by
 * returning a negative one; it may also set the exported counter negative
 * during any import call to stop the guest at its next check.
 *
 * With {@linkcode InstrumentOptions.resumable} `false`, a check cannot ask
 * for more: `fuel -= c; if (fuel < 0) { fuel = -1 - (fuel + c); unreachable }`,
 * so the counter starts at {@linkcode InstrumentOptions.initialFuel} and a
 * guest that runs out leaves, folded to a negative number, what it had left.
 * V8 optimises a loop that contains no call much better, even a call that
 * never runs, so this kind of check costs markedly less in tight loops.
 *
 * Either way, every check's `if` is marked unlikely in a
 * `metadata.code.branch_hint` section placed before the code, which V8
 * honours: it then lays the failure path out of the way. The guest's own
 * branch hints, whose offsets the rewrite would make wrong, are dropped.
 *
 * ## Where checks go: segments
 *
 * A function body is cut into straight-line segments; each segment's cost
 * (the sum of its operators' costs) is prepaid by one check at its start. A
 * new segment starts:
 *
 * - at function entry;
 * - right after `loop bt` (the loop header) and after `if bt`;
 * - after `else`, and after every `end` except the function's last;
 * - after the legacy `catch`, `catch_all` and `delegate`;
 * - after the conditional branches `br_if`, `br_on_null`, `br_on_non_null`,
 *   `br_on_cast` and `br_on_cast_fail`;
 * - after a `call` of an imported function, and after every `call_indirect`
 *   and `call_ref` (a host may ask for a stop during the call).
 *
 * `block`, `try` and `try_table` do not start one. An operator that ends a
 * segment (`if`, `br_if`, a call) is charged in that segment. Operators after
 * an unconditional transfer (`br`, `br_table`, `return`, `unreachable`,
 * `throw`, `rethrow`, `throw_ref`, `return_call*`) up to the next segment
 * start can never run and are not charged.
 *
 * Every segment start carries a check, even a free one, where it can
 * observe something: function entry, loop headers, the landing sites of
 * exceptions (legacy `catch`/`catch_all`/`delegate`, and the `end` of a
 * block that a `try_table` clause targets) and after the calls listed above.
 * Anywhere else a free segment's check is left out: the counter cannot have
 * changed since the previous check, so it could never fire. The longest run
 * without a check is therefore bounded by the longest loop-free,
 * call-free stretch of one function body, recursion included.
 *
 * ## Costs
 *
 * Every operator costs 1, except `nop`, `drop`, `block`, `loop`, `end`,
 * `else`, `unreachable`, `return`, `try`, `try_table`, `catch`, `catch_all`
 * and `delegate`, which cost 0. {@linkcode CostTable} changes any of them by
 * text name (`"i32.add"`, `"memory.fill"`; both encodings of `select`,
 * `ref.test` and `ref.cast` share their name).
 *
 * Bulk operators are also charged at run time, right before they run, for
 * the amount of work they were asked to do: `memory.fill`, `memory.copy` and
 * `memory.init` for `n × perByte`; `table.fill`, `table.copy`, `table.init`,
 * `table.grow` and the GC operators `array.new`, `array.new_default`,
 * `array.new_data`, `array.new_elem`, `array.fill`, `array.copy`,
 * `array.init_data` and `array.init_elem` for `n × perElement`; `memory.grow`
 * for `delta × perPage`. `n` is the operand on top of the stack, read as an
 * unsigned `i32` or, for 64-bit memories and tables, `i64` (a copy between a
 * 32-bit and a 64-bit one counts with `i32`, as the operand does). Such a
 * charge is a check whose cost is that amount, capped at 2^62.
 *
 * For example, this loop of `n` iterations costs exactly `5n` (the entry and
 * the header before the first iteration are free, each iteration costs
 * `local.get`, `i32.const`, `i32.sub`, `local.tee` and `br_if`):
 *
 * ```wat
 * (func (param $n i32)
 *   (loop $again
 *     (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
 * ```
 *
 * ## Errors
 *
 * Malformed input (truncated, a section size that lies, an overlong or
 * oversized LEB128, an unknown opcode, unbalanced blocks, a body that does
 * not end with `end`, an index out of range) throws {@linkcode InvalidModule}
 * naming the problem and its byte offset. The rewriter itself checks
 * structure, not types; a well-formed module that is invalid for other
 * reasons (say, `i32.add` on an `f64`) is caught by validating the input
 * with `WebAssembly.validate` first, and then throws {@linkcode InvalidModule}
 * with the engine's reason and offset. A valid input always gives a valid
 * output (the spec suite and differential fuzzing check it), so `instrument`
 * never returns an invalid module, unless {@linkcode InstrumentOptions.validate}
 * turns that check off.
 *
 * @example Metering a loop
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * // (func (export "run") (param $n i32)
 * //   (loop (br_if 0 (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
 * const guest = new Uint8Array([
 *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
 *   0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00, // type (i32) -> ()
 *   0x03, 0x02, 0x01, 0x00, // one function of type 0
 *   0x07, 0x07, 0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00, // export "run"
 *   0x0a, 0x10, 0x01, 0x0e, 0x00, 0x03, 0x40, 0x20, 0x00, 0x41, 0x01, 0x6b,
 *   0x22, 0x00, 0x0d, 0x00, 0x0b, 0x0b, // code
 * ]);
 * const metered = instrument(guest);
 * let granted = 0n;
 * const { instance } = await WebAssembly.instantiate(metered.bytes, {
 *   [metered.importModule]: {
 *     [metered.importName]: (counter: bigint) => {
 *       granted += 1000n;
 *       return counter + 1000n;
 *     },
 *   },
 * });
 * (instance.exports.run as (n: number) => void)(10);
 * const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
 * assert.equal(granted - fuel.value, 50n);
 * ```
 *
 * @module
 */

import { InvalidModule, isEarlyExitError } from "../errors.ts";
import { BRANCH_HINTS } from "./branch_hints.ts";
import { CodeRewriter } from "./code.ts";
import { type CostModel, type CostTable, resolveCosts } from "./costs.ts";

export type { CostTable };
import { ModuleInfo } from "./module.ts";
import { rewriteNameSection } from "./names.ts";
import { Patches } from "./patches.ts";
import { Reader } from "./reader.ts";
import {
  expectSectionEnd,
  Rank,
  readSections,
  SECTION_RANK,
} from "./sections.ts";
import { Emitter } from "./emitter.ts";
import { u32Size, Writer } from "./writer.ts";

/**
 * Options for {@linkcode instrument}.
 *
 * @example Usage
 * ```ts
 * import type { InstrumentOptions } from "./instrument.ts";
 *
 * const options: InstrumentOptions = { costs: { default: 2 } };
 * ```
 */
export interface InstrumentOptions {
  /** Operator prices; see {@linkcode CostTable}. */
  costs?: CostTable;
  /**
   * The preferred module name of the added import; suffixed `-1`, `-2`, …
   * if the guest already imports from a module of that name.
   *
   * @default {"early-exit"}
   */
  importModule?: string;
  /**
   * The preferred export name of the fuel counter; suffixed `-1`, `-2`, …
   * if the guest already exports that name.
   *
   * @default {"early-exit:fuel"}
   */
  fuelExport?: string;
  /**
   * Whether a check that finds the fuel spent calls `out_of_fuel`, which may
   * hand out more and let the guest resume (slices, deadlines, async
   * yields), or traps on the spot. A trapping check leaves `-1 - fuel` in
   * the counter, where `fuel` is what was left before the block it could
   * not pay for. V8 optimises loops that contain no call much better (it
   * unrolls them, among other things), so code metered without resuming
   * runs markedly faster in tight loops.
   *
   * @default {true}
   */
  resumable?: boolean;
  /**
   * The counter's starting value. A module that cannot resume must start
   * with its fuel, since its start function runs before the host can set
   * the counter.
   *
   * @default {0n}
   */
  initialFuel?: bigint;
  /**
   * Whether to check the input with `WebAssembly.validate` first and throw
   * {@linkcode InvalidModule} (with the engine's reason and offset) if it is
   * not valid. The rewriter itself checks structure, not types, and turns
   * every valid module into a valid one (the spec suite and differential
   * fuzzing check that), so this is what guarantees a valid result. A host
   * that has compiled the input already may turn it off.
   *
   * @default {true}
   */
  validate?: boolean;
}

/**
 * A metered module and the names the host needs to run it.
 *
 * @example Usage
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * const metered = instrument(empty);
 * assert.equal(metered.importName, "out_of_fuel");
 * assert.ok(WebAssembly.validate(metered.bytes));
 * ```
 */
export interface InstrumentedModule {
  /** The metered module. */
  bytes: Uint8Array<ArrayBuffer>;
  /** The module name of the one function import that was added. */
  importModule: string;
  /** Its field name: `"out_of_fuel"`. */
  importName: string;
  /** The export name of the fuel counter, a mutable `i64` global. */
  fuelExport: string;
  /** Whether a failed check calls `out_of_fuel` (else it traps). */
  resumable: boolean;
  /** The counter's starting value. */
  initialFuel: bigint;
}

const DEFAULT_IMPORT_MODULE = "early-exit";
const IMPORT_NAME = "out_of_fuel";
const DEFAULT_FUEL_EXPORT = "early-exit:fuel";

function uniqueName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 1;; i++) {
    const name = `${base}-${i}`;
    if (!taken.has(name)) return name;
  }
}

function checkInitialFuel(value: unknown): bigint {
  if (typeof value !== "bigint" || value < 0n || value >= 1n << 63n) {
    throw new TypeError(
      `Cannot use initialFuel: expected a bigint from 0 to 2^63 - 1, got ${value}`,
    );
  }
  return value;
}

function checkName(value: unknown, option: string): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot use ${option}: expected a string, got ${typeof value}`,
    );
  }
  return value;
}

/**
 * Rewrites a WebAssembly module so that it meters its own execution with a
 * fuel counter, as described in this module's documentation.
 *
 * @param bytes The guest module.
 * @param options Costs and preferred names.
 * @returns The metered module and the names of what was added.
 * @throws {InvalidModule} If `bytes` is not a well-formed module, uses an
 *   unknown opcode or an index out of range.
 * @throws {TypeError} If `options` holds an unknown operator name, a cost
 *   that is not an integer from 0 to 2^31 - 1, or a name that is not a
 *   string.
 *
 * @example Usage
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (func (export "answer") (result i32) (i32.const 42)))
 * const guest = new Uint8Array([
 *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
 *   0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x0a, 0x01, 0x06, 0x61,
 *   0x6e, 0x73, 0x77, 0x65, 0x72, 0x00, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00,
 *   0x41, 0x2a, 0x0b,
 * ]);
 * const metered = instrument(guest);
 * const { instance } = await WebAssembly.instantiate(metered.bytes, {
 *   [metered.importModule]: { [metered.importName]: () => 1n << 62n },
 * });
 * assert.equal((instance.exports.answer as () => number)(), 42);
 * ```
 */
export function instrument(
  bytes: Uint8Array,
  options: InstrumentOptions = {},
): InstrumentedModule {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      `Cannot instrument the module: expected a Uint8Array, got ${typeof bytes}`,
    );
  }
  const costs = resolveCosts(options.costs);
  const importModule = checkName(
    options.importModule ?? DEFAULT_IMPORT_MODULE,
    "importModule",
  );
  const fuelExport = checkName(
    options.fuelExport ?? DEFAULT_FUEL_EXPORT,
    "fuelExport",
  );
  let metered: InstrumentedModule;
  try {
    metered = new ModuleRewriter(
      bytes,
      costs,
      importModule,
      fuelExport,
      options.resumable ?? true,
      checkInitialFuel(options.initialFuel ?? 0n),
    ).run();
  } catch (error) {
    if (isEarlyExitError(error)) throw error;
    // A bug here must still surface as the documented error kind.
    throw new InvalidModule(
      `Cannot instrument the module: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  // Checked after the rewrite, whose own errors say more (an unknown opcode
  // by name); this catches what it does not check, such as types.
  if (
    options.validate !== false &&
    !WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)
  ) {
    rejectInvalid(bytes);
  }
  return metered;
}

/** The engine's reason for rejecting `bytes`, and its byte offset. */
function compileError(bytes: BufferSource): [string, number?] | undefined {
  try {
    new WebAssembly.Module(bytes);
    return undefined;
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    const match = /^(?:WebAssembly\.Module\(\): )?(.*?)(?: @\+(\d+))?$/s
      .exec(text);
    return match?.[2] === undefined
      ? [match?.[1] ?? text]
      : [match[1]!, Number(match[2])];
  }
}

/** Throws for an input the engine rejects, with its reason and offset. */
function rejectInvalid(input: Uint8Array): never {
  const [message, offset] = compileError(input as Uint8Array<ArrayBuffer>) ??
    ["the engine rejects it"];
  throw new InvalidModule(`Invalid module: ${message}`, { offset });
}

/** Room for the code's branch hints, written once the code is. */
class HintsSlot {
  constructor(readonly code: CodeRewriter, readonly size: number) {}
}

/**
 * A piece of the output: bytes, a range of the input, the code, or room
 * for its branch hints (which the engine wants before the code).
 */
type Part =
  | Uint8Array
  | { from: number; to: number }
  | CodeRewriter
  | HintsSlot;

/**
 * Walks the module's sections once, planning the output as a list of parts
 * (new bytes, ranges of the input to copy, the rewritten code), then writes
 * the parts into one buffer of exactly the right size.
 */
class ModuleRewriter {
  readonly #bytes: Uint8Array;
  readonly #costs: CostModel;
  readonly #info = new ModuleInfo();
  readonly #parts: Part[] = [];
  #size = 0;
  #importModule: string;
  #fuelExport: string;
  #lastRank = 0;
  #done = new Set<number>();
  #deferredNames: Array<[number, number]> = [];
  #codeSeen = false;
  /**
   * Where the function section went: its first part, and the input's
   * section start and end; for adding the padding functions later.
   */
  #functionSection: [number, number, number] | undefined;
  /** The same for the type section, for the register copies' types. */
  #typeSection: [number, number, number] | undefined;

  readonly #resumable: boolean;
  readonly #initialFuel: bigint;

  constructor(
    bytes: Uint8Array,
    costs: CostModel,
    importModule: string,
    fuelExport: string,
    resumable: boolean,
    initialFuel: bigint,
  ) {
    this.#bytes = bytes;
    this.#costs = costs;
    this.#importModule = importModule;
    this.#fuelExport = fuelExport;
    this.#resumable = resumable;
    this.#initialFuel = initialFuel;
  }

  /** `(global (mut i64) (i64.const initialFuel))`. */
  #writeFuelGlobal(w: Writer): void {
    w.u8(0x7e);
    w.u8(0x01);
    w.u8(0x42);
    w.s64Big(this.#initialFuel);
    w.u8(0x0b);
  }

  get #slowType(): number {
    return this.#info.typeCount;
  }

  get #importType(): number {
    return this.#info.typeCount + 1;
  }

  get #fuelGlobal(): number {
    return this.#info.globalCount;
  }

  get #slowFunction(): number {
    return this.#info.functionCount + 1;
  }

  #add(part: Uint8Array): void {
    this.#parts.push(part);
    this.#size += part.length;
  }

  #addInput(from: number, to: number): void {
    this.#parts.push({ from, to });
    this.#size += to - from;
  }

  /** Adds a section made of a header and `content`. */
  #addSection(id: number, content: Writer): void {
    const header = new Writer(6);
    header.u8(id);
    header.u32(content.len);
    this.#add(header.finish());
    this.#add(content.finish());
  }

  run(): InstrumentedModule {
    const bytes = this.#bytes;
    this.#addInput(0, 8);
    for (const { id, rank, sectionStart, start, end } of readSections(bytes)) {
      if (id === 0) {
        this.#custom(sectionStart, start, end);
        continue;
      }
      this.#flushBefore(rank);
      this.#lastRank = rank;
      const section = new Reader(bytes, start, end);
      this.#section(id, section, sectionStart);
      expectSectionEnd(id, section);
    }
    this.#flushBefore(Infinity);
    for (const [start, end] of this.#deferredNames) this.#names(start, end);

    const w = new Emitter(this.#size);
    let hints: HintsSlot | undefined;
    let hintsAt = 0;
    for (const part of this.#parts) {
      if (part instanceof Uint8Array) w.copy(part, 0, part.length);
      else if (part instanceof CodeRewriter) part.emit(w);
      else if (part instanceof HintsSlot) {
        hints = part;
        hintsAt = w.len;
        w.len += part.size;
      } else w.copy(bytes, part.from, part.to);
    }
    if (hints !== undefined) {
      const end = w.len;
      w.len = hintsAt;
      hints.code.writeBranchHints(w);
      w.len = end;
    }
    if (w.len !== this.#size) {
      throw new InvalidModule(
        `internal error: the module came out ${w.len} bytes long instead of ${this.#size}`,
      );
    }
    return {
      bytes: w.finish(),
      importModule: this.#importModule,
      importName: IMPORT_NAME,
      fuelExport: this.#fuelExport,
      resumable: this.#resumable,
      initialFuel: this.#initialFuel,
    };
  }

  #section(id: number, r: Reader, sectionStart: number): void {
    const info = this.#info;
    const patches = new Patches();
    if (id !== 10) info.readSection(id, r, patches);
    switch (id) {
      case 1:
        this.#typeSection = [this.#parts.length, sectionStart, r.end];
        return this.#appendToVector(1, r, sectionStart, (w) => {
          w.bytes(this.#resumable ? SLOW_TYPE : TRAP_TYPE);
          w.bytes(IMPORT_TYPE);
        }, 2);
      case 2:
        this.#importModule = uniqueName(
          this.#importModule,
          info.importModules,
        );
        return this.#appendToVector(
          2,
          r,
          sectionStart,
          (w) => this.#writeImport(w),
        );
      case 3:
        this.#functionSection = [this.#parts.length, sectionStart, r.end];
        return this.#appendToVector(
          3,
          r,
          sectionStart,
          (w) => w.u32(this.#slowType),
        );
      case 4:
        return this.#copyPatched(4, sectionStart, r.end, patches);
      case 5:
        return this.#copyPatched(5, sectionStart, r.end, patches);
      case 13:
        return this.#copyPatched(13, sectionStart, r.end, patches);
      case 6:
        return this.#appendToVector(
          6,
          r,
          sectionStart,
          (w) => this.#writeFuelGlobal(w),
          1,
          patches,
        );
      case 7:
        this.#fuelExport = uniqueName(this.#fuelExport, info.exportNames);
        return this.#appendToVector(
          7,
          r,
          sectionStart,
          (w) => this.#writeExport(w),
          1,
          patches,
        );
      case 8:
        return this.#copyPatched(8, sectionStart, r.end, patches);
      case 9:
        return this.#copyPatched(9, sectionStart, r.end, patches);
      case 12:
        return this.#copyPatched(12, sectionStart, r.end, patches);
      case 10:
        return this.#code(r);
      case 11:
        return this.#copyPatched(11, sectionStart, r.end, patches);
    }
  }

  /** Copies a section, applying index patches if there are any. */
  #copyPatched(
    id: number,
    sectionStart: number,
    end: number,
    patches: Patches,
  ): void {
    if (patches.length === 0) return this.#addInput(sectionStart, end);
    const r = new Reader(this.#bytes, sectionStart + 1, end);
    r.u32();
    const content = new Writer(end - r.pos + patches.length * 5);
    patches.copy(content, this.#bytes, r.pos, end);
    this.#addSection(id, content);
  }

  /**
   * Adds a vector section with `added` more entries, written by `append`
   * after the existing ones. Without `r` the section is new.
   */
  #appendToVector(
    id: number,
    r: Reader | undefined,
    sectionStart: number,
    append: (w: Writer) => void,
    added = 1,
    patches?: Patches,
  ): void {
    this.#done.add(SECTION_RANK[id]!);
    const bytes = this.#bytes;
    let content: Writer;
    if (r === undefined) {
      content = new Writer(64);
      content.u32(added);
    } else {
      const head = new Reader(bytes, sectionStart + 1, r.end);
      head.u32();
      const count = head.u32();
      content = new Writer(r.end - head.pos + 64 + (patches?.length ?? 0) * 5);
      content.u32(count + added);
      if (patches) patches.copy(content, bytes, head.pos, r.end);
      else content.copy(bytes, head.pos, r.end);
    }
    append(content);
    this.#addSection(id, content);
  }

  #writeImport(w: Writer): void {
    w.name(this.#importModule);
    w.name(IMPORT_NAME);
    w.u8(0x00);
    w.u32(this.#importType);
  }

  #writeExport(w: Writer): void {
    w.name(this.#fuelExport);
    w.u8(0x03);
    w.u32(this.#fuelGlobal);
  }

  /** Adds the sections that the guest lacks and that must come first. */
  #flushBefore(rank: number): void {
    const missing = (r: number) => r < rank && !this.#done.has(r);
    if (missing(Rank.type)) {
      this.#appendToVector(1, undefined, -1, (w) => {
        w.bytes(this.#resumable ? SLOW_TYPE : TRAP_TYPE);
        w.bytes(IMPORT_TYPE);
      }, 2);
    }
    if (missing(Rank.import)) {
      this.#appendToVector(2, undefined, -1, (w) => this.#writeImport(w));
    }
    if (missing(Rank.function)) {
      this.#appendToVector(3, undefined, -1, (w) => w.u32(this.#slowType));
    }
    if (missing(Rank.global)) {
      this.#appendToVector(6, undefined, -1, (w) => this.#writeFuelGlobal(w));
    }
    if (missing(Rank.export)) {
      this.#fuelExport = uniqueName(this.#fuelExport, this.#info.exportNames);
      this.#appendToVector(7, undefined, -1, (w) => this.#writeExport(w));
    }
    if (missing(Rank.code)) {
      if (this.#info.definedFunctions > 0) {
        throw new InvalidModule("function section without a code section", {
          offset: this.#bytes.length,
        });
      }
      this.#appendToVector(10, undefined, -1, (w) => w.bytes(this.#slowBody()));
    }
  }

  #code(r: Reader): void {
    const info = this.#info;
    const countAt = r.pos;
    const count = r.count("function body");
    if (count !== info.definedFunctions) {
      r.fail(
        `code section has ${count} bodies for ${info.definedFunctions} functions`,
        countAt,
      );
    }
    this.#codeSeen = true;
    this.#done.add(Rank.code);
    const rewriter = new CodeRewriter(this.#bytes, info, this.#costs, {
      fuelGlobal: this.#fuelGlobal,
      slowFunction: this.#slowFunction,
      resumable: this.#resumable,
      registerCopies: this.#typeSection !== undefined,
    }, r.end - r.pos);
    let bodiesSize = 0;
    let smallBefore = 0;
    let smallAfter = 1; // the slow path
    for (let i = 0; i < count; i++) {
      const sizeAt = r.pos;
      const size = r.u32();
      if (size > r.end - r.pos) {
        r.fail(
          `function body size ${size} exceeds the ${
            r.end - r.pos
          } bytes left in the code section`,
          sizeAt,
        );
      }
      if (size === 0) r.fail("empty function body", sizeAt);
      const start = r.pos;
      const sized = rewriter.scan(
        start,
        start + size,
        info.importedFunctions + i,
      );
      bodiesSize += sized;
      if (size < SMALL_FUNCTION) smallBefore++;
      // A body under 50 bytes has a one-byte size prefix.
      if (sized <= SMALL_FUNCTION) smallAfter++;
      r.pos = start + size;
    }
    const copies = rewriter.copies;
    let copiesSize = 0;
    for (const copy of copies) {
      copiesSize += copy.bytes.length;
      if (copy.bytes.length <= SMALL_FUNCTION) smallAfter++;
    }
    const pads = paddingFunctions(
      count,
      smallBefore,
      count + 1 + copies.length,
      smallAfter,
    );
    if (copies.length > 0) {
      this.#replanVector(this.#typeSection!, 1, (w) => {
        w.bytes(this.#resumable ? SLOW_TYPE : TRAP_TYPE);
        w.bytes(IMPORT_TYPE);
        for (const copy of copies) w.bytes(copy.type);
      }, 2 + copies.length);
    }
    if (copies.length + pads > 0) {
      const firstCopyType = this.#importType + 1;
      this.#replanVector(this.#functionSection!, 3, (w) => {
        w.u32(this.#slowType);
        for (let i = 0; i < copies.length; i++) w.u32(firstCopyType + i);
        for (let i = 0; i < pads; i++) w.u32(this.#slowType);
      }, 1 + copies.length + pads);
    }
    const slowBody = this.#slowBody();
    const hintsSize = rewriter.branchHintsSize();
    if (hintsSize > 0) {
      this.#parts.push(new HintsSlot(rewriter, hintsSize));
      this.#size += hintsSize;
    }
    const header = new Writer(16);
    const total = count + 1 + copies.length + pads;
    header.u8(10);
    header.u32(
      u32Size(total) + bodiesSize + slowBody.length + copiesSize +
        pads * PAD_BODY.length,
    );
    header.u32(total);
    this.#add(header.finish());
    this.#parts.push(rewriter);
    this.#size += bodiesSize;
    this.#add(slowBody);
    for (const copy of copies) this.#add(copy.bytes);
    for (let i = 0; i < pads; i++) this.#add(PAD_BODY);
  }

  /**
   * Plans again a vector section planned earlier (its header and content
   * parts), with `added` entries written by `append` after the input's.
   */
  #replanVector(
    [part, sectionStart, end]: [number, number, number],
    id: number,
    append: (w: Writer) => void,
    added: number,
  ): void {
    const old = this.#parts.splice(part, 2) as Uint8Array[];
    this.#size -= old[0]!.length + old[1]!.length;
    const head = new Reader(this.#bytes, sectionStart + 1, end);
    head.u32();
    const count = head.u32();
    const content = new Writer(end - head.pos + 64);
    content.u32(count + added);
    content.copy(this.#bytes, head.pos, end);
    append(content);
    const header = new Writer(6);
    header.u8(id);
    header.u32(content.len);
    const parts = [header.finish(), content.finish()];
    this.#parts.splice(part, 0, ...parts);
    this.#size += parts[0]!.length + parts[1]!.length;
  }

  /**
   * `$slow(counter, cost)`: `fuel = out_of_fuel(counter, cost)`, and a trap
   * if that is negative. Returned with its size prefix.
   */
  #slowBody(): Uint8Array {
    if (!this.#resumable) return this.#trapBody();
    const e = new Emitter(32);
    e.u32(0); // no locals
    e.localGet(0);
    e.localGet(1);
    e.call(this.#info.importedFunctions); // out_of_fuel
    e.localTee(0);
    e.globalSet(this.#fuelGlobal);
    e.localGet(0);
    e.i64Const(0);
    e.i64LtS();
    e.ifEmpty();
    e.unreachable();
    e.end();
    e.end();
    return e.sized();
  }

  /**
   * The failure path of a check that cannot resume, kept out of line so that
   * small functions stay small enough for V8 to inline: it folds the fuel
   * the guest had (still in the counter, which a check stores only once it
   * passes) to `-1 - fuel`, then traps.
   */
  #trapBody(): Uint8Array {
    const e = new Emitter(24);
    e.u32(0); // no locals
    e.i64Const(-1);
    e.globalGet(this.#fuelGlobal);
    e.i64Sub();
    e.globalSet(this.#fuelGlobal);
    e.unreachable();
    e.end();
    return e.sized();
  }

  #custom(sectionStart: number, start: number, end: number): void {
    const r = new Reader(this.#bytes, start, end);
    const name = r.name();
    if (name === BRANCH_HINTS) {
      // The guest's own hints name offsets that the rewrite moves; stale
      // hints would mislead the engine, and ours take their place.
      return;
    }
    if (name !== "name") {
      this.#addInput(sectionStart, end);
    } else if (this.#lastRank < Rank.import) {
      // The number of imported functions is not known yet.
      this.#deferredNames.push([sectionStart, end]);
    } else {
      this.#names(sectionStart, end);
    }
  }

  #names(sectionStart: number, end: number): void {
    const r = new Reader(this.#bytes, sectionStart + 1, end);
    r.u32();
    r.name();
    const rewritten = rewriteNameSection(
      this.#bytes,
      r.pos,
      end,
      this.#info.importedFunctions,
    );
    if (!rewritten) return this.#addInput(sectionStart, end);
    const content = new Writer(rewritten.length + 8);
    content.name("name");
    content.bytes(rewritten);
    this.#addSection(0, content);
  }
}

/**
 * V8 counts a function body shorter than this many bytes as small, and
 * gives a module whose bodies are mostly small more inlining budget.
 */
const SMALL_FUNCTION = 50;

/** An empty body, `(func)`, with its size prefix. */
const PAD_BODY = (() => {
  const e = new Emitter(4);
  e.u32(0); // no locals
  e.end();
  return e.sized();
})();

/**
 * How many empty functions keep V8's view of how much inlining a module
 * deserves as it was before metering.
 *
 * V8 (`BudgetScaleFactor` in its `inlining-tree.h`) scales every function's
 * inlining budget by the module's share of small bodies: a share of 25% or
 * less reads as "the toolchain already inlined", 50% or more as "inline
 * freely", with a linear ramp between. Checks grow small bodies past the
 * line, which cut the budget of a recursive `fib` enough to halve the depth
 * V8 inlines it to. Empty functions, never called and so never compiled,
 * bring the share back to what it was (or to 50%, past which more changes
 * nothing).
 *
 * @param before Bodies in the input.
 * @param smallBefore Small bodies in the input.
 * @param after Bodies in the output, before padding.
 * @param smallAfter Small bodies in the output, before padding.
 */
export function paddingFunctions(
  before: number,
  smallBefore: number,
  after: number,
  smallAfter: number,
): number {
  if (before === 0 || smallBefore * 4 <= before) return 0;
  // The share to reach: smallBefore / before, capped at one half.
  const [s, n] = smallBefore * 2 >= before ? [1, 2] : [smallBefore, before];
  // Least k with (smallAfter + k) / (after + k) >= s / n.
  const k = Math.ceil((s * after - n * smallAfter) / (n - s));
  return Math.max(0, k);
}

/** `(func (param i64 i64))`: the slow path. */
const SLOW_TYPE = Uint8Array.from([0x60, 0x02, 0x7e, 0x7e, 0x00]);
/** `(func)`: the failure path of a check that cannot resume. */
const TRAP_TYPE = Uint8Array.from([0x60, 0x00, 0x00]);
/** `(func (param i64 i64) (result i64))`: `out_of_fuel`. */
const IMPORT_TYPE = Uint8Array.from([0x60, 0x02, 0x7e, 0x7e, 0x01, 0x7e]);
