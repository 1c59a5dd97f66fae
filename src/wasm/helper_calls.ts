/**
 * The operators the scan replaces by calls of added functions: bulk
 * operators, grows and waits with a stop flag, GC array operators and
 * allocations by length, and the string builtins a guest pays for. A
 * replaced operator becomes a padded `call`; the function it calls is made
 * once per kind of operator.
 *
 * @module
 */

import { PADDED_CALL_SIZE } from "./emitter.ts";
import {
  type BulkHelper,
  bulkHelper,
  bulkKey,
  BulkOp,
  type BulkSite,
  CHUNK,
  importedTableGrowHelper,
  memoryGrowHelper,
  notifyHelper,
  TABLE_CHUNK,
  tableGrowHelper,
  throwCountHelper,
  waitHelper,
} from "./bulk_helpers.ts";
import { arrayHelper, ArrayOp } from "./array_helpers.ts";
import {
  ARRAY_NEW_CODES,
  arrayLengthCap,
  arrayNewFunction,
} from "./array_new_cap.ts";
import {
  concatLengthCap,
  findStringImports,
  JS_STRING,
  STRING_BUILTIN_NAMES,
  StringBuiltin,
  stringHelper,
  type StringImports,
} from "./string_builtin_helpers.ts";
import {
  type CodePlan,
  Edit,
  type FuelTargets,
  LENGTH_SHIFT,
} from "./code_plan.ts";
import type { CostModel } from "./costs.ts";
import { type BulkOperands, readMemArg } from "./immediates.ts";
import type { ModuleInfo } from "./module.ts";
import { GC_OPS, MISC_OPS } from "./opcodes.ts";
import { fail, type Reader } from "./reader.ts";

/**
 * The signed LEB128 constant at `at` (an `i32.const` or `i64.const`
 * immediate, read as the unsigned length it is) if it lies in
 * `[0, limit]`, else -1.
 */
function constantAtMost(bytes: Uint8Array, at: number, limit: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[at + i]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if (byte < 0x80) {
      // A set sign bit makes it negative: a length near the top of the
      // address space.
      return (byte & 0x40) === 0 && value <= limit ? value : -1;
    }
    if (value > limit) return -1;
  }
  return -1;
}

/**
 * What one element of a table operator (`table.fill`, `table.copy`,
 * `table.init`) weighs in {@linkcode INLINE_BULK_BYTES}: a funcref element
 * took about 10 ns (it updates the dispatch table too), a byte of fresh
 * memory about 0.75 ns.
 */
const TABLE_ELEMENT_BYTES = 16;
/**
 * The most work, in bytes of memory or their weight in elements, that the
 * bulk operators a body keeps as they are (those whose length is a short
 * constant) may do in all: they run one after another with no check
 * between, and 1,900 fills of 64 KiB in one body ran 90 to 760 ms past a
 * deadline on 2 busy cores. Past it, they become calls of the added
 * functions, each of which checks the flag first. The body's first such
 * operator stays whatever it weighs: alone, it is over as soon as a chunk.
 */
export const INLINE_BULK_BYTES = 65536;

/** The bulk operators that become helper calls with a stop flag. */
const BULK_OPS = new Map<number, BulkOp>([
  [MISC_OPS.name.indexOf("memory.init"), BulkOp.Init],
  [MISC_OPS.name.indexOf("memory.copy"), BulkOp.Copy],
  [MISC_OPS.name.indexOf("memory.fill"), BulkOp.Fill],
  [MISC_OPS.name.indexOf("table.init"), BulkOp.TableInit],
  [MISC_OPS.name.indexOf("table.copy"), BulkOp.TableCopy],
  [MISC_OPS.name.indexOf("table.fill"), BulkOp.TableFill],
]);
const I32_TYPE = Uint8Array.of(0x7f);
/** The same for the GC array operators. */
/** The allocations by length whose immediate is only the array type. */
const ARRAY_NEW_BY_TYPE = new Set([
  GC_OPS.name.indexOf("array.new"),
  GC_OPS.name.indexOf("array.new_default"),
]);

const ARRAY_OPS = new Map<number, ArrayOp>([
  [GC_OPS.name.indexOf("array.fill"), ArrayOp.Fill],
  [GC_OPS.name.indexOf("array.copy"), ArrayOp.Copy],
  [GC_OPS.name.indexOf("array.init_data"), ArrayOp.InitData],
  [GC_OPS.name.indexOf("array.init_elem"), ArrayOp.InitElem],
]);

/**
 * With a stop flag, or with string builtins to pay for: the operators the
 * scan replaces by calls of added functions (see `bulk_helpers.ts`,
 * `array_helpers.ts`, `array_new_cap.ts`, `heap_count.ts`,
 * `string_builtin_helpers.ts`), each added once per kind and shared by its
 * calls, and the operators that stay as they are.
 */
export class HelperCalls {
  readonly #bytes: Uint8Array;
  readonly #info: ModuleInfo;
  readonly #costs: CostModel;
  readonly #targets: FuelTargets;
  readonly #code: CodePlan;
  /** The table or memory indices the last bulk operator named. */
  readonly #operands: BulkOperands;
  readonly #reader: Reader;
  /** The work of the bulk operators the body keeps (`#keepsInline`). */
  inlineBulk = 0;
  /** The string builtins charged by size, when the module imports any. */
  readonly strings: StringImports | undefined;
  /** Whether the string builtins' added functions charge fuel, or cap. */
  readonly stringsPay: boolean;

  /**
   * @param bytes The input module.
   * @param info The module's sections before the code.
   * @param costs The cost model.
   * @param targets The added global and function.
   * @param code Where the plan goes.
   * @param operands What the scan read of the last bulk operator.
   * @param reader The scan's reader, for the less common immediates.
   */
  constructor(
    bytes: Uint8Array,
    info: ModuleInfo,
    costs: CostModel,
    targets: FuelTargets,
    code: CodePlan,
    operands: BulkOperands,
    reader: Reader,
  ) {
    this.#bytes = bytes;
    this.#info = info;
    this.#costs = costs;
    this.#targets = targets;
    this.#code = code;
    this.#operands = operands;
    this.#reader = reader;
    this.strings = undefined;
    this.stringsPay = false;
    if (targets.countsFuel) {
      // "wasm:" names the engine's builtin modules. An engine flag adds
      // some (wasm:text-decoder and wasm:text-encoder, whose calls walk a
      // whole string or array), and only wasm:js-string's calls are priced
      // here: the others would run unpaid.
      for (const module of info.importModules) {
        if (module.startsWith("wasm:") && module !== JS_STRING) {
          fail(
            `a metered guest may import from ${JS_STRING} alone of the engine's builtin modules (those named wasm:...), since only its calls are priced; this module imports from ${module}, whose calls would run unpaid: drop the import, or meter without fuel (fuel: false with a deadline)`,
            0,
          );
        }
      }
    }
    // Paid with fuel, or (in a guest loaded to be stopped) a `concat`
    // held to a length, since the engine flattens a long rope in one step.
    const pays = targets.countsFuel && costs.perElement > 0;
    // With a stop flag, the strings some of them make count toward the
    // host's heap as well (`heap_count.ts`).
    if (
      info.importModules.has(JS_STRING) &&
      (pays || targets.stopFlag !== undefined)
    ) {
      const functions = info.imports.filter((i) => i.kind === "function");
      const strings = findStringImports(
        functions,
        functions.map((i) => info.typeSignatures[i.type!]),
      );
      // Without fuel, `fromCharCodeArray` stays too, where it is called,
      // for the count of the strings it makes toward the host's heap
      // (`heap_count.ts`).
      if (!pays) {
        for (const [index, builtin] of strings.charged) {
          if (
            builtin !== StringBuiltin.Concat &&
            builtin !== StringBuiltin.FromCharCodeArray
          ) {
            strings.charged.delete(index);
          }
        }
      }
      this.stringsPay = pays;
      for (const index of info.referencedImports) {
        const builtin = strings.charged.get(index);
        if (
          builtin !== undefined &&
          (pays ||
            builtin === StringBuiltin.Concat &&
              targets.stopFlag?.arrayBytes !== undefined)
        ) {
          const { who, why, fix } = this.#stringTerms();
          fail(
            `${who} may only call ${
              functions[index]!.name
            } from ${JS_STRING} with call, ${why}; this module names it in an element segment or constant expression: call it directly, ${fix}`,
            0,
          );
        }
      }
      this.strings = strings;
    }
  }

  /**
   * With a stop flag, replaces a bulk memory operator by a call of its
   * helper; returns the bytes that adds. An operator whose length is a
   * constant of one chunk at most (`lengthAt`, where that constant's
   * immediate starts, or -1) stays as it is: it is over as soon as a chunk
   * is, and V8 compiles a short constant one inline, where the helper's
   * call ran about 14 times slower (a 24-byte copy and a 16-byte fill).
   */
  callHelper(
    code: number,
    opPos: number,
    end: number,
    lengthAt: number,
  ): number {
    const op = BULK_OPS.get(code);
    if (op === undefined) return 0;
    if (lengthAt >= 0) {
      const table = op >= BulkOp.TableInit;
      const n = constantAtMost(
        this.#bytes,
        lengthAt,
        table ? TABLE_CHUNK : CHUNK,
      );
      if (n >= 0 && this.#keepsInline(table ? n * TABLE_ELEMENT_BYTES : n)) {
        return 0;
      }
    }
    const { first, second, segment } = this.#operands;
    const site: BulkSite = { op, first, second, segment };
    return this.callMade(bulkKey(site), opPos, end, () => {
      const info = this.#info;
      const table = op >= BulkOp.TableInit;
      return bulkHelper(
        site,
        table ? info.tableIs64 : info.memoryIs64,
        table ? info.tableElementTypes[first]! : I32_TYPE,
        this.#targets.stopFlag!,
      );
    });
  }

  /**
   * Whether a bulk operator with a constant length, whose work weighs
   * `bytes`, stays as it is: the body's first that does any work (one
   * chunk at most), and the others while they weigh at most
   * {@linkcode INLINE_BULK_BYTES} in all.
   */
  #keepsInline(bytes: number): boolean {
    if (this.inlineBulk > 0 && this.inlineBulk + bytes > INLINE_BULK_BYTES) {
      return false;
    }
    this.inlineBulk += bytes;
    return true;
  }

  /**
   * With a stop flag, replaces a `table.grow` of a defined table (in
   * `#operands`) by a call of its helper (see `tableGrowHelper`); returns
   * the bytes that adds. Every grow becomes a call, one of a constant
   * length too: the engine runs each as a call of its runtime anyway, and
   * the helper counts it toward a poll of the host's clock (a loop of
   * `table.grow 0` otherwise met only checks that cost it a unit or so an
   * engine's call). A grow of an imported table, whose maximum the module
   * cannot know (it may be below the one its import declares), so that
   * the helper could not tell in advance whether the grow fits, becomes a
   * call that checks the flag and grows in one step (see
   * `importedTableGrowHelper`).
   */
  callGrowHelper(opPos: number, end: number): number {
    const table = this.#operands.first;
    const info = this.#info;
    const most = info.tableMaxima[table]!;
    if (most < 0) {
      return this.callMade(
        `grow once:${table}`,
        opPos,
        end,
        () =>
          importedTableGrowHelper(
            table,
            info.tableIs64[table]!,
            info.tableElementTypes[table]!,
            this.#targets.stopFlag!,
          ),
      );
    }
    return this.callMade(`grow:${table}`, opPos, end, () =>
      tableGrowHelper(
        table,
        info.tableIs64[table]!,
        info.tableElementTypes[table]!,
        most,
        this.#targets.stopFlag!,
      ));
  }

  /**
   * With a stop flag, puts a call of the added function that counts a
   * runtime call (see `throwCountHelper`) before the `throw`, `rethrow` or
   * `throw_ref` at `opPos`, which stays; returns the bytes that adds. The
   * throw's segment writes the counter before it already, as before any
   * call, and nothing after the throw runs.
   */
  callBeforeThrow(opPos: number): number {
    const plan = this.#code;
    const number = plan.helperNumber(
      "throw",
      () => throwCountHelper(this.#targets.stopFlag!),
    );
    plan.pushEdit(opPos, Edit.BulkCall, number);
    return PADDED_CALL_SIZE;
  }

  /**
   * With a stop flag, replaces a `memory.grow` (of the memory in
   * `#operands`) by a call of the added function that checks the flag
   * first (see `memoryGrowHelper`); returns the bytes that adds.
   */
  callMemoryGrowHelper(opPos: number, end: number): number {
    const memory = this.#operands.first;
    return this.callMade(
      `memory.grow:${memory}`,
      opPos,
      end,
      () =>
        memoryGrowHelper(
          memory,
          this.#info.memoryIs64[memory]!,
          this.#targets.stopFlag!,
        ),
    );
  }

  /**
   * The same for the GC array operators; `type` is the type index an
   * `array.fill` names (the others' are in `#operands`).
   */
  callArrayHelper(
    code: number,
    type: number,
    opPos: number,
    end: number,
  ): number {
    const op = ARRAY_OPS.get(code);
    if (op === undefined) {
      return ARRAY_NEW_CODES.has(code)
        ? this.#callArrayNew(code, type, opPos, end)
        : 0;
    }
    const operands = this.#operands;
    const site = op === ArrayOp.Fill
      ? { op, first: type, second: type, segment: 0 }
      : { op, ...operands };
    const element = this.#info.arrayElements[site.first];
    if (element === undefined) return 0;
    const key = `array:${site.op}:${site.first}:${site.second}:${site.segment}`;
    return this.callMade(
      key,
      opPos,
      end,
      () => arrayHelper(site, element, this.#targets.stopFlag!),
    );
  }

  /**
   * With a cap on arrays' bytes, replaces an allocation by length (`code`;
   * `type` is the type `array.new` and `array.new_default` name, the
   * others' are in `#operands`) by a call of the added function that
   * refuses a longer one; returns the bytes that adds.
   */
  #callArrayNew(
    code: number,
    type: number,
    opPos: number,
    end: number,
  ): number {
    const flag = this.#targets.stopFlag;
    if (flag === undefined) return 0;
    const bytes = flag.arrayBytes;
    const byIndex = !ARRAY_NEW_BY_TYPE.has(code);
    const first = byIndex ? this.#operands.first : type;
    const segment = byIndex ? this.#operands.segment : 0;
    const element = this.#info.arrayElements[first];
    if (element === undefined) return 0;
    const most = bytes === undefined
      ? undefined
      : arrayLengthCap(element, bytes);
    return this.callMade(
      `array.new:${code}:${first}:${segment}`,
      opPos,
      end,
      () => arrayNewFunction(code, first, segment, element, most, flag),
    );
  }

  /**
   * Replaces `memory.atomic.wait32` or `wait64` (`code`), whose memory
   * argument is at `immAt`, by a call of its helper, or
   * `memory.atomic.notify` (`code` 0) by a call of its own; returns the
   * bytes that adds. One helper serves every such operator with the same
   * memory argument.
   */
  callWaitHelper(
    code: number,
    immAt: number,
    opPos: number,
    end: number,
  ): number {
    const r = this.#reader;
    r.pos = immAt;
    const memory = readMemArg(r, this.#info.memoryIs64, opPos);
    const memarg = this.#bytes.subarray(immAt, end);
    if (code === 0) {
      return this.callMade(
        `notify:${memarg.join(",")}`,
        opPos,
        end,
        () =>
          notifyHelper(
            memarg.slice(),
            this.#info.memoryIs64[memory]!,
            this.#targets.stopFlag!,
          ),
      );
    }
    return this.callMade(
      `wait:${code}:${memarg.join(",")}`,
      opPos,
      end,
      () =>
        waitHelper(
          code,
          memarg.slice(),
          this.#info.memoryIs64[memory]!,
          this.#targets.stopFlag!,
        ),
    );
  }

  /**
   * Replaces a call of a string builtin that allocates by a call of its
   * paying helper; refuses any other use of it, which would not pay.
   */
  callString(op: number, index: number, opPos: number, end: number): number {
    const strings = this.strings!;
    const builtin = strings.charged.get(index);
    if (builtin === undefined) return 0;
    // Without fuel, `fromCharCodeArray` is counted where it is called, and
    // nothing else refused; so is `concat` without a cap, where its
    // length can be read.
    if (
      !this.stringsPay &&
      (builtin === StringBuiltin.FromCharCodeArray
        ? op !== 0x10
        : this.#concatCap() === undefined &&
          (op !== 0x10 || strings.length < 0))
    ) {
      return 0;
    }
    const name = STRING_BUILTIN_NAMES[builtin]!;
    const { who, why, fix } = this.#stringTerms();
    if (op !== 0x10) {
      fail(
        `${who} may only call ${name} from ${JS_STRING} with call, ${why}; ` +
          `this module uses it with ${
            op === 0x12 ? "return_call" : "ref.func"
          }: call it directly, ${fix}`,
        opPos,
      );
    }
    if (builtin !== StringBuiltin.FromCharCodeArray && strings.length < 0) {
      const paid = builtin === StringBuiltin.Concat
        ? "the length of its result"
        : builtin === StringBuiltin.IntoCharCodeArray
        ? "the characters it copies"
        : "the characters it compares";
      const held = this.stringsPay
        ? `a metered guest's ${name} from ${JS_STRING} pays for ${paid}`
        : `a guest loaded to be stopped holds the length of ${name}'s result from ${JS_STRING} to limits.arrays`;
      fail(
        `${held}, read with length from ${JS_STRING}, ` +
          `which this module does not import: import length (externref) -> i32 from ${JS_STRING} too, ${fix}`,
        opPos,
      );
    }
    const info = this.#info;
    return this.callMade(`string:${index}`, opPos, end, () =>
      stringHelper(
        builtin,
        index,
        info.functionTypes[index]!,
        strings.length,
        this.stringsPay ? this.#costs.perElement : 0,
        this.#targets,
        this.#concatCap(),
      ));
  }

  /** The longest `concat` result in a guest loaded to be stopped. */
  #concatCap(): number | undefined {
    const bytes = this.#targets.stopFlag?.arrayBytes;
    return bytes === undefined ? undefined : concatLengthCap(bytes);
  }

  /**
   * How a refusal of a string builtin's use names the guest, why the
   * builtin must be called directly, and what else the user can do.
   */
  #stringTerms(): { who: string; why: string; fix: string } {
    if (this.stringsPay) {
      return {
        who: "a metered guest",
        why: "which pays for the characters it makes or reads",
        fix: this.#concatCap() === undefined
          ? "or run it with fuel: Infinity"
          : "or run it with invokeIsolated",
      };
    }
    return {
      who: "a guest loaded to be stopped",
      why: "which holds its result to limits.arrays",
      fix: "or run it with invokeIsolated",
    };
  }

  /** Replaces an operator by a call of the helper `key` names, made once. */
  callMade(
    key: string,
    opPos: number,
    end: number,
    make: () => BulkHelper,
  ): number {
    const plan = this.#code;
    const number = plan.helperNumber(key, make);
    plan.pushEdit(opPos, Edit.BulkCall | (end - opPos) << LENGTH_SHIFT, number);
    return PADDED_CALL_SIZE - (end - opPos);
  }
}
