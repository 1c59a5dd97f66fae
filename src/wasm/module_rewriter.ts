/**
 * The module rewrite: one walk over the input's sections that reads what
 * the code needs, plans the output (see `output_plan.ts`), appends the
 * added import, global, export, types and functions where they belong,
 * shifts function indices, and hands the code section to the code
 * rewriter.
 *
 * @module
 */

import { InvalidModule } from "../errors.ts";
import {
  FUEL_TYPE,
  IMPORT_NAME,
  IMPORT_TYPE,
  SLOW_TYPE,
  slowBody,
  TRAP_TYPE,
  trapBody,
  writeFuelGlobal,
} from "./added_functions.ts";
import { BRANCH_HINTS, CODE_METADATA } from "./branch_hints.ts";
import { startFunction } from "./deferred_start.ts";
import { findStackPointerGlobal } from "./stack_pointer_scan.ts";
import { CodeRewriter } from "./code.ts";
import type { CostModel } from "./costs.ts";
import { LIMITS, ModuleInfo } from "./module.ts";
import { readSectionSteps } from "./module_sections.ts";
import { rewriteNameSectionSteps } from "./names.ts";
import {
  type InPlace,
  type OutputAllocator,
  OutputPlan,
  type PlannedVector,
} from "./output_plan.ts";
import { PAD_BODY, paddingFunctions, SMALL_FUNCTION } from "./padding.ts";
import { Patches } from "./patches.ts";
import { PRECOMPILE_TYPE, precompileBody } from "./precompile.ts";
import {
  BODY_STEPS,
  runSteps,
  STEP_BODIES,
  STEP_BYTES,
  type Steps,
  stepTimeUp,
} from "./steps.ts";
import { Reader } from "./reader.ts";
import {
  expectSectionEnd,
  Rank,
  readSections,
  SECTION_RANK,
  sectionCount,
} from "./sections.ts";
import {
  type AddedMemory,
  definedMemories,
  type DefinedMemory,
  FLAG_CALLBACK_TYPE,
  writeStopFlagImports,
} from "./stop_flag.ts";
import { u32Size, Writer } from "./writer.ts";

/** What the rewrite produced, and the names it settled on. */
export interface RewrittenModule {
  /** The metered module. */
  bytes: Uint8Array<ArrayBuffer>;
  /** The module name of the added import. */
  importModule: string;
  /** The export name of the fuel counter. */
  fuelExport: string;
  /** What the walk read about the input module, for its description. */
  info: ModuleInfo;
  /**
   * With a stop flag: the memory imports added, the flag memory last;
   * else `undefined`.
   */
  memories?: AddedMemory[];
  /** With a deferred start: the start function's export name. */
  startExport?: string;
  /** The export name of the shadow stack pointer, when it was found. */
  stackPointerExport?: string;
  /** With `exportStopFlag`: the flag memory's export name. */
  stopFlagExport?: string;
  /**
   * With `precompile`: the export that calls the functions dear to
   * compile, and how many it calls (see `precompile.ts`).
   */
  precompile?: { export: string; functions: number };
}

/** What the rewrite adds beyond fuel metering. */
export interface RewriteFeatures {
  /** Whether to add the stop flag and its checks (see `stop_flag.ts`). */
  readonly stopFlag?: boolean;
  /** Whether a set flag traps without asking `on_stop_flag`. */
  readonly stopFlagTraps?: boolean;
  /** Whether to export the start function instead of starting it. */
  readonly deferStart?: boolean;
  /** Whether to count fuel (else only the stop flag is checked). */
  readonly countsFuel?: boolean;
  /** Whether to export the shadow stack pointer (`stack_pointer_scan.ts`). */
  readonly exportStackPointer?: boolean;
  /** With the stop flag: the most bytes a GC array allocated by length takes. */
  readonly arrayBytes?: number;
  /**
   * With the stop flag: whether to export a function that calls the
   * functions dear to compile (see `precompile.ts`).
   */
  readonly precompile?: boolean;
  /**
   * With the stop flag: whether to export the flag memory, so that a host
   * can tell which flag an instance reads.
   */
  readonly exportStopFlag?: boolean;
}

/** `base`, or `base-1`, `base-2`, … whichever is not taken. */
function uniqueName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 1;; i++) {
    const name = `${base}-${i}`;
    if (!taken.has(name)) return name;
  }
}

/**
 * Refuses a module that defines `has` of `what` when the rewrite adds
 * `added` more and the engine takes at most `limit`.
 */
function over(what: string, has: number, added: number, limit: number) {
  if (has + added <= limit) return;
  throw new InvalidModule(
    `the module defines ${has} ${what} and metering adds ${added}: more than the engine's limit of ${limit}; meter a module with fewer ${what}`,
    { offset: 0 },
  );
}

/**
 * Refuses a rewrite whose output would be at least `size` bytes, past the
 * engine's limit on a module.
 */
function tooLarge(size: number, offset: number): never {
  throw new InvalidModule(
    `the metered module would be at least ${size} bytes, more than the engine's limit of ${LIMITS.moduleSize}; meter a smaller module, or one with fewer calls and loops`,
    { offset },
  );
}

/**
 * Rewrites one module.
 *
 * @example Usage
 * ```ts
 * import { ModuleRewriter } from "./module_rewriter.ts";
 * import { resolveCosts } from "./costs.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * const rewriter = new ModuleRewriter(
 *   empty,
 *   resolveCosts(),
 *   "early-exit",
 *   "early-exit:fuel",
 *   true,
 *   0n,
 * );
 * assert.ok(WebAssembly.validate(rewriter.run().bytes));
 * ```
 */
export class ModuleRewriter {
  readonly #bytes: Uint8Array;
  readonly #costs: CostModel;
  readonly #info = new ModuleInfo();
  readonly #out: OutputPlan;
  #importModule: string;
  #fuelExport: string;
  #lastRank = 0;
  #done = new Set<number>();
  #deferredNames: Array<[number, number]> = [];
  /** Whether a `name` section was met: the engine reads only the first. */
  #namesSeen = false;
  /** Where the function section went, for adding functions later. */
  #functionSection: PlannedVector | undefined;
  /** The same for the type section, for the register copies' types. */
  #typeSection: PlannedVector | undefined;
  /** Types the code adds after the added types: copies' and helpers'. */
  #codeTypes = 0;
  /** The type of the checks' `if`s, or -1 (see `#settleFuelType`). */
  #fuelType = -1;
  /** Functions the code adds after the guest's: copies, pads, helpers. */
  #codeFunctions = 0;
  readonly #resumable: boolean;
  readonly #initialFuel: bigint;
  /** With a stop flag: the memories the input defines; else undefined. */
  readonly #definedMemories: DefinedMemory[] | undefined;
  #addedMemories: AddedMemory[] | undefined;
  /** With a deferred start: the start function's original index. */
  readonly #deferredStart: number | undefined;
  #startExport: string | undefined;
  readonly #countsFuel: boolean;
  readonly #flagTraps: boolean;
  readonly #exportStackPointer: boolean;
  readonly #arrayBytes: number | undefined;
  /** The stack pointer's global and export name, once found. */
  #stackPointer: { global: number; name: string } | undefined;
  readonly #precompile: boolean;
  /** With `exportStopFlag`: the flag memory's export name, once settled. */
  #flagExport: string | undefined;
  readonly #exportFlag: boolean;
  /** Where the export section went, and its patches, to add one later. */
  #exportSection: { planned: PlannedVector; patches?: Patches } | undefined;
  /** The added export that calls the functions dear to compile. */
  #precompiled:
    | { name: string; index: number; functions: number }
    | undefined;

  /**
   * @param bytes The input module.
   * @param costs The cost model.
   * @param importModule The preferred module name of the added import.
   * @param fuelExport The preferred export name of the counter.
   * @param resumable Whether a failed check may ask for more fuel.
   * @param initialFuel The counter's starting value.
   * @param features What to add beyond fuel metering.
   */
  constructor(
    bytes: Uint8Array,
    costs: CostModel,
    importModule: string,
    fuelExport: string,
    resumable: boolean,
    initialFuel: bigint,
    features: RewriteFeatures = {},
  ) {
    this.#bytes = bytes;
    this.#costs = costs;
    this.#out = new OutputPlan(bytes);
    this.#importModule = importModule;
    this.#fuelExport = fuelExport;
    this.#resumable = resumable;
    this.#initialFuel = initialFuel;
    if (features.stopFlag) {
      this.#definedMemories = definedMemories(bytes);
      this.#info.addedImports = 2;
    } else if (!resumable) {
      // A guest that traps when its fuel is spent never calls the host: its
      // bytes need no import, so that loaders that take only bytes or a
      // compiled module can instantiate them as they are.
      this.#info.addedImports = 0;
    }
    if (features.deferStart) {
      this.#deferredStart = startFunction(bytes);
      this.#info.deferredStart = this.#deferredStart ?? -1;
    }
    this.#countsFuel = features.countsFuel ?? true;
    this.#flagTraps = features.stopFlagTraps ?? false;
    this.#exportStackPointer = features.exportStackPointer ?? false;
    this.#arrayBytes = features.arrayBytes;
    this.#precompile = (features.precompile ?? false) &&
      features.stopFlag === true;
    this.#exportFlag = (features.exportStopFlag ?? false) &&
      features.stopFlag === true;
  }

  get #slowType(): number {
    return this.#info.typeCount;
  }

  get #importType(): number {
    return this.#info.typeCount + 1;
  }

  /** The stop flag callback's type, after the import's. */
  get #flagCallbackType(): number {
    return this.#info.typeCount + 2;
  }

  /** How many types are added before the register copies' types. */
  get #addedTypes(): number {
    return (this.#definedMemories ? 3 : 2) +
      (this.#fuelType === this.#addedFuelType ? 1 : 0);
  }

  /** Where {@linkcode FUEL_TYPE} goes when the guest has none to reuse. */
  get #addedFuelType(): number {
    return this.#info.typeCount + (this.#definedMemories ? 3 : 2);
  }

  /**
   * Settles the type of the checks' `if`s (see `CheckTargets.fuelType`),
   * once the guest's types are known: a plain `[i64] -> [i64]` of the
   * guest's with a one-byte index, or one added after the others. A
   * rewrite that counts no fuel, or whose checks trap, writes no such check
   * and adds none.
   */
  #settleFuelType(): void {
    if (!this.#countsFuel || !this.#resumable) return;
    const info = this.#info;
    // At the engine's limit on types, the checks do without.
    if (this.#addedFuelType >= LIMITS.types) return;
    const bytes = this.#bytes;
    const below = Math.min(info.typeCount, 64);
    for (let i = 0; i < below; i++) {
      const at = info.typeOffsets[i]!;
      if (
        at >= 0 && bytes[at + 1] === 1 && bytes[at + 2] === 0x7e &&
        bytes[at + 3] === 1 && bytes[at + 4] === 0x7e
      ) {
        this.#fuelType = i;
        return;
      }
    }
    this.#fuelType = this.#addedFuelType;
  }

  /** How many imports are added. */
  get #addedImportEntries(): number {
    const defined = this.#definedMemories;
    return defined ? 3 + defined.length : this.#info.addedImports;
  }

  get #fuelGlobal(): number {
    return this.#info.globalCount;
  }

  /** The slow path: the first defined function, before the guest's. */
  get #slowFunction(): number {
    return this.#info.importedFunctions + this.#info.addedImports;
  }

  /** The first function appended after the guest's. */
  get #firstAppended(): number {
    return this.#info.functionCount + this.#info.functionShift;
  }

  /**
   * Rewrites the module.
   *
   * @returns The output and the names it uses.
   * @throws {InvalidModule} If the input is malformed.
   */
  run(): RewrittenModule {
    return runSteps(this.steps());
  }

  /**
   * {@linkcode ModuleRewriter.run} in steps, which pause in the code and
   * in the output's large copies.
   *
   * @param allocate Makes the output's buffer, of exactly the size given.
   * @param inPlace Asks for the output to be built over the input, where
   *   that pays (see {@linkcode InPlace}).
   * @returns The steps, which return the output and the names it uses.
   * @throws {InvalidModule} If the input is malformed.
   */
  *steps(
    allocate?: OutputAllocator,
    inPlace?: InPlace,
  ): Steps<RewrittenModule> {
    const bytes = this.#bytes;
    this.#checkCountsAhead();
    this.#out.addInput(0, 8);
    for (const { id, rank, sectionStart, start, end } of readSections(bytes)) {
      if (id === 0) {
        yield* this.#custom(sectionStart, start, end);
        continue;
      }
      this.#flushBefore(rank);
      this.#lastRank = rank;
      const section = new Reader(bytes, start, end);
      if (id === 10) yield* this.#code(section);
      else yield* this.#section(id, section, sectionStart);
      expectSectionEnd(id, section);
    }
    this.#flushBefore(Infinity);
    for (const [start, end] of this.#deferredNames) {
      yield* this.#names(start, end);
    }
    this.#checkLimits();
    return {
      bytes: yield* this.#out.writeSteps(allocate, inPlace),
      importModule: this.#importModule,
      fuelExport: this.#fuelExport,
      info: this.#info,
      memories: this.#addedMemories,
      startExport: this.#startExport,
      stackPointerExport: this.#stackPointer?.name,
      ...(this.#flagExport === undefined
        ? {}
        : { stopFlagExport: this.#flagExport }),
      ...(this.#precompiled === undefined ? {} : {
        precompile: {
          export: this.#precompiled.name,
          functions: this.#precompiled.functions,
        },
      }),
    };
  }

  /**
   * Refuses, before anything is rewritten, a module whose import or export
   * count alone shows that the output would pass the engine's limit on it:
   * each count heads its section, and what the rewrite adds to it is known
   * from the options (but for the stack pointer's export, which waits for
   * the scan, so that case is left to {@linkcode ModuleRewriter.#checkLimits}).
   * A module of a million exports took seconds to rewrite, only to be
   * refused at the end. A count already past the limit is left to the
   * reader, which says so.
   */
  #checkCountsAhead(): void {
    const imports = sectionCount(this.#bytes, 2);
    if (imports !== undefined && imports <= LIMITS.imports) {
      over("imports", imports, this.#addedImportEntries, LIMITS.imports);
    }
    if (this.#exportStackPointer) return;
    const exports = sectionCount(this.#bytes, 7);
    if (exports !== undefined && exports <= LIMITS.exports) {
      const added = this.#deferredStart === undefined ? 1 : 2;
      over("exports", exports, added, LIMITS.exports);
    }
  }

  /**
   * Refuses a module that is within the engine's limits but would not be
   * once the rewrite adds its types, functions, imports, exports and
   * memories: the engine would refuse the output.
   */
  #checkLimits(): void {
    const info = this.#info;
    over(
      "types",
      info.typeCount,
      this.#addedTypes + this.#codeTypes,
      LIMITS.types,
    );
    over(
      "functions",
      info.definedFunctions,
      1 + this.#codeFunctions,
      LIMITS.functions,
    );
    over(
      "imports",
      info.imports.length,
      this.#addedImportEntries,
      LIMITS.imports,
    );
    // Checks add bytes: up to 33 times the input where they are densest (a
    // chained `memory.grow` is 2 bytes, and 65 with its charge and refund;
    // a call of an import 32 with its check), so a valid 74 MB module came
    // out as 1.25 GB, which the engine refuses. The code was checked as it
    // was planned; the rest of the output is checked here.
    const size = this.#out.size;
    if (size > LIMITS.moduleSize) tooLarge(size, 0);
    // The stop flag's memory comes after the guest's.
    over(
      "memories",
      info.memoryIs64.length,
      this.#definedMemories ? 1 : 0,
      LIMITS.memories,
    );
    // Zones add one more export, counted where they are added (`instrument`).
    over("exports", info.exports.length, this.#addedExports, LIMITS.exports);
  }

  *#section(id: number, r: Reader, sectionStart: number): Steps<void> {
    const info = this.#info;
    const patches = new Patches();
    yield* readSectionSteps(info, id, r, patches);
    switch (id) {
      case 1:
        this.#settleFuelType();
        this.#typeSection = this.#vector(1, sectionStart, r.end, (w) => {
          this.#writeTypes(w);
        }, this.#addedTypes);
        return;
      case 2:
        this.#importModule = uniqueName(
          this.#importModule,
          info.importModules,
        );
        if (this.#addedImportEntries === 0) {
          this.#done.add(SECTION_RANK[2]!);
          return this.#out.addPatched(id, sectionStart, r.end, patches);
        }
        this.#vector(
          2,
          sectionStart,
          r.end,
          (w) => this.#writeImport(w),
          this.#addedImportEntries,
        );
        return;
      case 5:
        // With a stop flag, the memories it defines are imported instead.
        if (this.#definedMemories) return;
        return this.#out.addPatched(id, sectionStart, r.end, patches);
      case 3:
        // The slow path goes first (see `#slowFunction`).
        this.#functionSection = this.#vector(
          3,
          sectionStart,
          r.end,
          () => {},
          1,
          undefined,
          (w) => w.u32(this.#slowType),
        );
        return;
      case 6:
        this.#vector(
          6,
          sectionStart,
          r.end,
          (w) => {
            writeFuelGlobal(w, this.#initialFuel);
          },
          1,
          patches,
        );
        return;
      case 7:
        this.#nameExports();
        this.#exportSection = {
          planned: this.#vector(
            7,
            sectionStart,
            r.end,
            (w) => {
              this.#writeExport(w);
            },
            this.#addedExports,
            patches,
          ),
          patches,
        };
        return;
      case 8:
        // A deferred start is exported instead.
        if (this.#deferredStart !== undefined) return;
        return this.#out.addPatched(id, sectionStart, r.end, patches);
      default:
        return this.#out.addPatched(id, sectionStart, r.end, patches);
    }
  }

  /** Plans a vector section with entries added, and marks it done. */
  #vector(
    id: number,
    sectionStart: number,
    end: number,
    append: (w: Writer) => void,
    added = 1,
    patches?: Patches,
    prepend?: (w: Writer) => void,
  ): PlannedVector {
    this.#done.add(SECTION_RANK[id]!);
    return this.#out.addVector(
      id,
      sectionStart,
      end,
      append,
      added,
      patches,
      prepend,
    );
  }

  /** The slow path's type and the import's. */
  #writeTypes(w: Writer): void {
    w.bytes(this.#resumable ? SLOW_TYPE : TRAP_TYPE);
    w.bytes(IMPORT_TYPE);
    if (this.#definedMemories) w.bytes(FLAG_CALLBACK_TYPE);
    if (this.#fuelType === this.#addedFuelType) w.bytes(FUEL_TYPE);
  }

  #writeImport(w: Writer): void {
    w.name(this.#importModule);
    w.name(IMPORT_NAME);
    w.u8(0x00);
    w.u32(this.#importType);
    if (this.#definedMemories) {
      this.#addedMemories = writeStopFlagImports(
        w,
        this.#bytes,
        this.#importModule,
        this.#flagCallbackType,
        this.#info.memoryIs64.length,
        this.#definedMemories,
      );
    }
  }

  /** Settles the added exports' names, once the guest's are known. */
  #nameExports(): void {
    const taken = this.#info.exportNames;
    this.#fuelExport = uniqueName(this.#fuelExport, taken);
    if (this.#deferredStart !== undefined) {
      this.#startExport = uniqueName(
        `${this.#importModule}:start`,
        new Set([...taken, this.#fuelExport]),
      );
    }
    const global = this.#exportStackPointer
      ? findStackPointerGlobal(this.#bytes, this.#info)
      : undefined;
    if (global !== undefined) {
      const name = uniqueName(
        `${this.#importModule}:stack_pointer`,
        new Set([...taken, this.#fuelExport, this.#startExport ?? ""]),
      );
      this.#stackPointer = { global, name };
    }
    if (this.#exportFlag) {
      this.#flagExport = uniqueName(
        `${this.#importModule}:stop_flag`,
        new Set([
          ...taken,
          this.#fuelExport,
          this.#startExport ?? "",
          this.#stackPointer?.name ?? "",
        ]),
      );
    }
  }

  get #addedExports(): number {
    return 1 + (this.#deferredStart === undefined ? 0 : 1) +
      (this.#stackPointer === undefined ? 0 : 1) +
      (this.#exportFlag ? 1 : 0) +
      (this.#precompiled === undefined ? 0 : 1);
  }

  #writeExport(w: Writer): void {
    w.name(this.#fuelExport);
    w.u8(0x03);
    w.u32(this.#fuelGlobal);
    if (this.#deferredStart !== undefined) {
      w.name(this.#startExport!);
      w.u8(0x00);
      w.u32(this.#info.shiftFunction(this.#deferredStart));
    }
    if (this.#stackPointer !== undefined) {
      w.name(this.#stackPointer.name);
      w.u8(0x03);
      w.u32(this.#stackPointer.global);
    }
    if (this.#flagExport !== undefined) {
      // The flag memory comes after every memory of the guest's own.
      w.name(this.#flagExport);
      w.u8(0x02);
      w.u32(this.#info.memoryIs64.length);
    }
    if (this.#precompiled !== undefined) {
      w.name(this.#precompiled.name);
      w.u8(0x00);
      w.u32(this.#precompiled.index);
    }
  }

  #slowBody(): Uint8Array {
    const info = this.#info;
    // The checks read the flag with the fuel (see `fusesFlag`).
    const flag = this.#definedMemories && !this.#flagTraps && this.#countsFuel
      ? {
        memory: info.memoryIs64.length,
        onStopFlag: info.importedFunctions + 1,
      }
      : undefined;
    return this.#resumable
      ? slowBody(info.importedFunctions, this.#fuelGlobal, flag)
      : trapBody(this.#fuelGlobal);
  }

  /** Adds the sections that the guest lacks and that must come first. */
  #flushBefore(rank: number): void {
    const missing = (r: number) => r < rank && !this.#done.has(r);
    if (missing(Rank.type)) {
      this.#settleFuelType();
      this.#vector(1, -1, -1, (w) => this.#writeTypes(w), this.#addedTypes);
    }
    if (missing(Rank.import) && this.#addedImportEntries > 0) {
      this.#vector(
        2,
        -1,
        -1,
        (w) => this.#writeImport(w),
        this.#addedImportEntries,
      );
    }
    if (missing(Rank.function)) {
      this.#vector(3, -1, -1, (w) => w.u32(this.#slowType));
    }
    if (missing(Rank.global)) {
      this.#vector(6, -1, -1, (w) => writeFuelGlobal(w, this.#initialFuel));
    }
    if (missing(Rank.export)) {
      this.#nameExports();
      this.#exportSection = {
        planned: this.#vector(
          7,
          -1,
          -1,
          (w) => this.#writeExport(w),
          this.#addedExports,
        ),
      };
    }
    if (missing(Rank.code)) {
      if (this.#info.definedFunctions > 0) {
        throw new InvalidModule("function section without a code section", {
          offset: this.#bytes.length,
        });
      }
      this.#vector(10, -1, -1, (w) => w.bytes(this.#slowBody()));
    }
  }

  *#code(r: Reader): Steps<void> {
    const info = this.#info;
    const countAt = r.pos;
    const count = r.count("function body");
    if (count !== info.definedFunctions) {
      r.fail(
        `code section has ${count} bodies for ${info.definedFunctions} functions`,
        countAt,
      );
    }
    this.#done.add(Rank.code);
    const rewriter = new CodeRewriter(
      this.#bytes,
      info,
      this.#costs,
      {
        fuelGlobal: this.#fuelGlobal,
        slowFunction: this.#slowFunction,
        resumable: this.#resumable,
        registerCopies: this.#typeSection !== undefined && this.#countsFuel,
        firstAppended: this.#firstAppended,
        countsFuel: this.#countsFuel,
        fuelType: this.#fuelType < 0 ? undefined : this.#fuelType,
        stopFlag: this.#definedMemories && {
          memory: info.memoryIs64.length,
          onStopFlag: info.importedFunctions + 1,
          traps: this.#flagTraps,
          arrayBytes: this.#arrayBytes,
        },
      },
      r.end - r.pos,
      count,
    );
    // A step of its own: the plan's arrays, sized by the code, are allocated.
    yield;
    let bodiesSize = 0;
    let smallBefore = 0;
    let smallAfter = 1; // the slow path
    let pauseAt = r.pos + STEP_BYTES;
    let bodiesAt = STEP_BODIES;
    let stepStart = performance.now();
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
      // Only a long body pauses in its scan.
      const sized = size > BODY_STEPS.bytes
        ? yield* rewriter.scanSteps(
          start,
          start + size,
          info.importedFunctions + i,
        )
        : rewriter.scan(start, start + size, info.importedFunctions + i);
      bodiesSize += sized;
      // The bodies alone, less what settling entry checks may take off
      // each, already past the engine's limit: refused now, not once the
      // rest of the code is planned (100 MB of dense checks held 615 MB of
      // plans, and seconds, to be refused at the end).
      const least = bodiesSize - (i + 1) * rewriter.mostSettledAway;
      if (least > LIMITS.moduleSize) tooLarge(least, sizeAt);
      if (size < SMALL_FUNCTION) smallBefore++;
      // A body under 50 bytes has a one-byte size prefix.
      if (sized <= SMALL_FUNCTION) smallAfter++;
      r.pos = start + size;
      if (r.pos >= pauseAt || i >= bodiesAt || stepTimeUp(i, stepStart)) {
        yield;
        pauseAt = r.pos + STEP_BYTES;
        bodiesAt = i + STEP_BODIES;
        stepStart = performance.now();
      }
    }
    const settled = yield* rewriter.settleEntryChecks(SMALL_FUNCTION);
    bodiesSize += settled.growth;
    smallAfter += settled.small;
    const copies = rewriter.copies;
    const dear = this.#precompile
      ? precompileBody(info, rewriter.dear)
      : undefined;
    // The function that calls the dear ones goes after the helpers.
    const helpers = dear === undefined
      ? rewriter.helpers
      : [...rewriter.helpers, { type: PRECOMPILE_TYPE, bytes: dear.bytes }];
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
    const out = this.#out;
    // Helpers' types follow the copies', one per distinct signature.
    const helperTypes = new Map<string, number>();
    const helperTypeList: Uint8Array[] = [];
    const firstHelperType = this.#info.typeCount + this.#addedTypes +
      copies.length;
    const helperType = helpers.map(({ type, typeIndex }) => {
      if (typeIndex !== undefined) return typeIndex;
      const key = type.join();
      let index = helperTypes.get(key);
      if (index === undefined) {
        index = firstHelperType + helperTypeList.length;
        helperTypes.set(key, index);
        helperTypeList.push(type);
      }
      return index;
    });
    let helpersSize = 0;
    for (const helper of helpers) helpersSize += helper.bytes.length;
    this.#codeTypes = copies.length + helperTypeList.length;
    this.#codeFunctions = copies.length + pads + helpers.length;
    if (copies.length + helpers.length > 0) {
      out.replanVector(this.#typeSection!, 1, (w) => {
        this.#writeTypes(w);
        for (const copy of copies) w.bytes(copy.type);
        for (const type of helperTypeList) w.bytes(type);
      }, this.#addedTypes + copies.length + helperTypeList.length);
    }
    if (copies.length + pads + helpers.length > 0) {
      const firstCopyType = this.#info.typeCount + this.#addedTypes;
      out.replanVector(
        this.#functionSection!,
        3,
        (w) => {
          for (let i = 0; i < copies.length; i++) w.u32(firstCopyType + i);
          for (let i = 0; i < pads; i++) w.u32(this.#slowType);
          for (const type of helperType) w.u32(type);
        },
        1 + copies.length + pads + helpers.length,
        (w) => w.u32(this.#slowType),
      );
    }
    rewriter.setHelperBase(this.#firstAppended + copies.length + pads);
    if (dear !== undefined) this.#addPrecompileExport(dear.functions.length);
    const slowBody = this.#slowBody();
    const hintsSize = yield* rewriter.branchHintsSize();
    if (hintsSize > 0) out.addHints(rewriter, hintsSize);
    const header = new Writer(16);
    const total = count + 1 + copies.length + pads + helpers.length;
    header.u8(10);
    header.u32(
      u32Size(total) + bodiesSize + slowBody.length + copiesSize +
        pads * PAD_BODY.length + helpersSize,
    );
    header.u32(total);
    out.add(header.finish());
    out.add(slowBody);
    out.addCode(rewriter, bodiesSize);
    for (const copy of copies) out.add(copy.bytes);
    for (let i = 0; i < pads; i++) out.add(PAD_BODY);
    for (const helper of helpers) out.add(helper.bytes);
  }

  /**
   * Adds the export of the function that calls the functions dear to
   * compile, the last function, once the code is planned.
   */
  #addPrecompileExport(functions: number): void {
    const taken = new Set([
      ...this.#info.exportNames,
      this.#fuelExport,
      this.#startExport ?? "",
      this.#stackPointer?.name ?? "",
      this.#flagExport ?? "",
    ]);
    this.#precompiled = {
      name: uniqueName(`${this.#importModule}:precompile`, taken),
      index: this.#firstAppended + this.#codeFunctions - 1,
      functions,
    };
    const section = this.#exportSection!;
    this.#out.replanVector(
      section.planned,
      7,
      (w) => this.#writeExport(w),
      this.#addedExports,
      undefined,
      section.patches,
    );
  }

  *#custom(sectionStart: number, start: number, end: number): Steps<void> {
    const r = new Reader(this.#bytes, start, end);
    const name = r.name();
    if (name === BRANCH_HINTS || name.startsWith(CODE_METADATA)) {
      // Code metadata (the guest's branch hints, and the compilation hints
      // an engine flag reads: priorities, frequencies, call targets, traced
      // instructions) names offsets that the rewrite moves and functions
      // whose indices it shifts: stale, it would tell the engine about other
      // code than it names. Dropping it changes no behaviour (the
      // convention's own rule), and our branch hints take its place.
      return;
    }
    if (name !== "name") {
      this.#out.addInput(sectionStart, end);
    } else if (this.#namesSeen) {
      // The engine reads the first `name` section only: a later one is
      // dropped rather than rewritten (a million of them took a minute),
      // and could not go out ahead of a first one that waits for the
      // imports.
      return;
    } else if (this.#lastRank < Rank.import) {
      // The number of imported functions is not known yet.
      this.#namesSeen = true;
      this.#deferredNames.push([sectionStart, end]);
    } else {
      this.#namesSeen = true;
      yield* this.#names(sectionStart, end);
    }
  }

  *#names(sectionStart: number, end: number): Steps<void> {
    const r = new Reader(this.#bytes, sectionStart + 1, end);
    r.u32();
    r.name();
    const rewritten = yield* rewriteNameSectionSteps(
      this.#bytes,
      r.pos,
      end,
      this.#info.importedFunctions,
      this.#info.functionShift,
    );
    if (!rewritten) return this.#out.addInput(sectionStart, end);
    // The rewritten contents go out as they are, uncopied: a name section
    // can be tens of megabytes.
    const name = new Writer(8);
    name.name("name");
    const header = new Writer(8);
    header.u8(0);
    header.u32(name.len + rewritten.length);
    this.#out.add(header.finish());
    this.#out.add(name.finish());
    this.#out.add(rewritten);
  }
}
