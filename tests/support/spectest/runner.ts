/**
 * The lockstep runner: reads a script and runs each command on the plain
 * run and on one metered run per rewriter, recording where each metered run
 * differs from the plain one.
 *
 * @module
 */

import {
  type Action,
  type Command,
  type ModuleDef,
  parseScript,
} from "../wast/mod.ts";
import {
  type Assembler,
  errorText,
  firstLine,
  type Skip,
} from "./assembler.ts";
import { HarnessFactory, type Outcome } from "./call.ts";
import { describeOutcome, meetsSpec } from "./compare.ts";
import { commandText, type FileReport, newReport } from "./report.ts";
import type { Rewriter, Rewritten } from "./rewriter.ts";
import { type Compiled, perform, planCall, Run, unknownModule } from "./run.ts";

/** Options for {@linkcode SpecRunner}. */
export interface SpecRunnerOptions {
  /**
   * The rewriters under test: each gets a metered run of its own, and all
   * are compared with one plain run, which each command is done on once.
   */
  rewriters: readonly Rewriter[];
  /** Builds module bytes from script text. */
  assembler: Assembler;
}

/**
 * Runs scripts in lockstep: every command is done by a plain run and by one
 * metered run per rewriter, and each metered outcome is compared with the
 * plain one.
 */
export class SpecRunner {
  readonly #rewriters: readonly Rewriter[];
  readonly #assembler: Assembler;
  readonly #harnesses: HarnessFactory;

  /** @param options The rewriters and assembler to use. */
  constructor(options: SpecRunnerOptions) {
    this.#rewriters = options.rewriters;
    this.#assembler = options.assembler;
    this.#harnesses = new HarnessFactory(options.assembler);
  }

  /**
   * Runs one script.
   *
   * @param file A name for reports.
   * @param source The script text.
   * @returns What was checked, skipped and failed: one report per rewriter,
   * in their order.
   */
  async runFile(file: string, source: string): Promise<FileReport[]> {
    let commands: Command[] | { error: unknown };
    try {
      commands = parseScript(source);
    } catch (error) {
      commands = { error };
    }
    return await new FileRun(
      file,
      this.#rewriters,
      this.#assembler,
      this.#harnesses,
    ).run(commands);
  }
}

export function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** What a module became on the plain run and on one metered run. */
type LaneCompiled = { plain: Compiled; metered: Compiled } | { skip: Skip };

/**
 * One rewriter's side of a script's run: its metered run, its report, and
 * which modules it lacks. Each lane keeps its own account of what is
 * missing, as a run of the plain and metered modules alone would: while no
 * lane fails, they all agree, and the plain run is the one each would have
 * had.
 */
class Lane {
  readonly report: FileReport;
  readonly metered = new Run(() => this.report.fuelRefills++);
  /** Modules, by `$id` or registered name, that are not there, and why. */
  readonly missing = new Map<string, Skip>();
  currentMissing: Skip | undefined = {
    reason: "no module defined yet",
    detail: "",
  };

  constructor(file: string, readonly rewrite: Rewriter) {
    this.report = newReport(file);
  }

  skip(skip: Skip): void {
    increment(this.report.skipped, skip.reason);
  }

  fail(command: Command, detail: string): void {
    this.report.failures.push({
      line: command.line,
      command: commandText(command),
      detail,
    });
  }

  markMissing(id: string | undefined, why: Skip): void {
    this.currentMissing = why;
    this.metered.current = undefined;
    if (id !== undefined) {
      this.missing.set(id, why);
      this.metered.instances.delete(id);
    }
  }

  missingImport(compiled: Compiled): Skip | undefined {
    for (const { module } of WebAssembly.Module.imports(compiled.module)) {
      const why = this.missing.get(`"${module}"`);
      if (why !== undefined) return why;
    }
    return undefined;
  }

  /** Why an action on `module` (the current one when absent) cannot run. */
  missingFor(module: string | undefined): Skip | undefined {
    return module === undefined
      ? this.currentMissing
      : this.missing.get(module);
  }
}

/** The plain module, from the first lane that has one. */
function plainOf(compiled: readonly LaneCompiled[]): Compiled | undefined {
  for (const each of compiled) if (!("skip" in each)) return each.plain;
  return undefined;
}

/** The state of one script's lockstep run. */
class FileRun {
  readonly #plain = new Run();
  readonly #lanes: Lane[];

  constructor(
    file: string,
    rewriters: readonly Rewriter[],
    readonly assembler: Assembler,
    readonly harnesses: HarnessFactory,
  ) {
    this.#lanes = rewriters.map((rewrite) => new Lane(file, rewrite));
  }

  async run(commands: Command[] | { error: unknown }): Promise<FileReport[]> {
    if (!Array.isArray(commands)) {
      for (const lane of this.#lanes) {
        lane.report.unreadable = errorText(commands.error);
      }
    } else {
      for (const command of commands) await this.#step(command);
    }
    return this.#lanes.map((lane) => lane.report);
  }

  async #step(command: Command): Promise<void> {
    switch (command.type) {
      case "module": {
        const def = command.module;
        const compiled = await this.#compile(command, def);
        const plain = plainOf(compiled);
        if (def.definition) {
          if (def.id !== undefined && plain !== undefined) {
            this.#plain.definitions.set(def.id, plain);
          }
          this.#lanes.forEach((lane, i) => {
            const mine = compiled[i]!;
            if ("skip" in mine) {
              if (def.id !== undefined) lane.missing.set(def.id, mine.skip);
            } else if (def.id !== undefined) {
              lane.metered.definitions.set(def.id, mine.metered);
              lane.missing.delete(def.id);
            }
          });
          return;
        }
        const ready: { lane: Lane; metered: Compiled }[] = [];
        this.#lanes.forEach((lane, i) => {
          const mine = compiled[i]!;
          if ("skip" in mine) return lane.markMissing(def.id, mine.skip);
          ready.push({ lane, metered: mine.metered });
        });
        if (plain === undefined) return;
        return this.#instantiate(command, def.id, plain, ready);
      }
      case "module_instance": {
        const plain = command.definition === undefined
          ? undefined
          : this.#plain.definitions.get(command.definition);
        const ready: { lane: Lane; metered: Compiled }[] = [];
        for (const lane of this.#lanes) {
          const metered = command.definition === undefined
            ? undefined
            : lane.metered.definitions.get(command.definition);
          if (plain === undefined || metered === undefined) {
            const why = lane.missing.get(command.definition ?? "") ??
              { reason: "module definition not available", detail: "" };
            lane.markMissing(command.id, why);
          } else ready.push({ lane, metered });
        }
        if (plain === undefined || ready.length === 0) return;
        return this.#instantiate(command, command.id, plain, ready);
      }
      case "register":
        return this.#register(command.as, command.module);
      case "action":
      case "assert_return":
      case "assert_trap":
      case "assert_exhaustion":
      case "assert_exception":
        return this.#act(command, command.action);
      case "assert_unlinkable":
      case "assert_uninstantiable":
        return await this.#moduleAssert(command, command.module);
      case "assert_invalid":
      case "assert_malformed":
        for (const lane of this.#lanes) {
          lane.skip({
            reason:
              "assert_invalid/assert_malformed (rejected modules have nothing to meter)",
            detail: "",
          });
        }
        return;
      case "unknown":
        for (const lane of this.#lanes) {
          lane.skip({ reason: command.reason, detail: "" });
        }
        return;
    }
  }

  /**
   * Assembles and checks with V8 once, then meters the module with each
   * lane's rewriter: one result per lane, in their order.
   */
  async #compile(command: Command, def: ModuleDef): Promise<LaneCompiled[]> {
    const assembled = await this.assembler.assemble(def);
    if ("skip" in assembled) {
      return this.#lanes.map((lane) => {
        lane.report.modulesSkipped.push({
          reason: assembled.skip.reason,
          detail: `line ${def.line}: ${assembled.skip.detail}`,
        });
        return assembled;
      });
    }
    const plain: Compiled = {
      module: assembled.module,
      bytes: assembled.bytes,
    };
    return this.#lanes.map((lane) => {
      increment(lane.report.assembledVia, assembled.via);
      lane.report.modulesLoaded++;
      let rewritten: Rewritten;
      try {
        rewritten = lane.rewrite(assembled.bytes);
      } catch (error) {
        lane.report.rewriterErrors.push({
          line: command.line,
          command: commandText(command),
          detail: firstLine(errorText(error)),
        });
        return {
          skip: { reason: "instrument() threw on the module", detail: "" },
        };
      }
      let module: WebAssembly.Module;
      try {
        module = new WebAssembly.Module(rewritten.bytes as BufferSource);
      } catch (error) {
        lane.fail(
          command,
          `metered module fails validation: ${firstLine(errorText(error))}`,
        );
        return { skip: { reason: "metered module invalid", detail: "" } };
      }
      if (!WebAssembly.validate(rewritten.bytes as BufferSource)) {
        lane.fail(command, "metered module fails WebAssembly.validate");
        return { skip: { reason: "metered module invalid", detail: "" } };
      }
      lane.report.modulesMetered++;
      return {
        plain,
        metered: {
          module,
          bytes: rewritten.bytes,
          fuel: { module: rewritten.importModule, name: rewritten.importName },
          addedImports: rewritten.addedImports,
        },
      };
    });
  }

  #instantiate(
    command: Command,
    id: string | undefined,
    plain: Compiled,
    ready: readonly { lane: Lane; metered: Compiled }[],
  ): void {
    // Done once, for the first lane that gets this far.
    let plainOutcome: Outcome | undefined;
    for (const { lane, metered } of ready) {
      const upstream = lane.missingImport(plain);
      if (upstream !== undefined) {
        lane.markMissing(id, upstream);
        continue;
      }
      plainOutcome ??= this.#plain.instantiate(plain, id);
      const meteredOutcome = lane.metered.instantiate(metered, id);
      lane.report.instancesCompared++;
      const plainText = describeOutcome(plainOutcome);
      if (plainText !== describeOutcome(meteredOutcome)) {
        lane.fail(
          command,
          `instantiation: plain ${plainText}, metered ${
            describeOutcome(meteredOutcome)
          }`,
        );
      }
      if (
        plainOutcome.kind !== "instance" ||
        meteredOutcome.kind !== "instance"
      ) {
        lane.markMissing(id, {
          reason: "module not instantiable",
          detail: plainText,
        });
        continue;
      }
      lane.currentMissing = undefined;
      if (id !== undefined) lane.missing.delete(id);
    }
  }

  #register(as: string, module: string | undefined): void {
    const plain = this.#plain.find(module);
    let registered = false;
    for (const lane of this.#lanes) {
      const why = lane.missingFor(module);
      if (why !== undefined) {
        lane.missing.set(`"${as}"`, why);
        continue;
      }
      const metered = lane.metered.find(module);
      if (plain === undefined || metered === undefined) {
        lane.missing.set(`"${as}"`, unknownModule(module));
        continue;
      }
      lane.missing.delete(`"${as}"`);
      lane.metered.registry[as] = metered.instance.exports;
      if (!registered) this.#plain.registry[as] = plain.instance.exports;
      registered = true;
    }
  }

  #act(
    command: Extract<Command, { action: Action }>,
    action: Action,
  ): void {
    const plainTarget = this.#plain.find(action.module);
    const plan = plainTarget === undefined || action.kind !== "invoke"
      ? "direct"
      : planCall(plainTarget.signatures?.get(action.name), action.args);
    // Done once, for the first lane that does not skip it.
    let plain: Outcome | undefined;
    for (const lane of this.#lanes) {
      const why = lane.missingFor(action.module);
      if (why !== undefined) {
        lane.skip(why);
        continue;
      }
      const meteredTarget = lane.metered.find(action.module);
      if (plainTarget === undefined || meteredTarget === undefined) {
        lane.skip(unknownModule(action.module));
        continue;
      }
      if (typeof plan === "object") {
        lane.skip(plan);
        continue;
      }
      plain ??= perform(plainTarget, action, plan, this.harnesses);
      const metered = perform(meteredTarget, action, plan, this.harnesses);
      this.#compare(lane, command, plain, metered);
    }
  }

  async #moduleAssert(
    command: Extract<Command, { module: ModuleDef }>,
    def: ModuleDef,
  ): Promise<void> {
    const compiled = await this.#compile(command, def);
    // Instantiated without touching `current`: a failing module replaces
    // nothing. The plain one once, for the first lane that gets this far.
    const instantiateAside = (run: Run, module: Compiled) => {
      const current = run.current;
      const outcome = run.instantiate(module, undefined);
      run.current = current;
      return outcome;
    };
    let plain: Outcome | undefined;
    this.#lanes.forEach((lane, i) => {
      const mine = compiled[i]!;
      if ("skip" in mine) return lane.skip(mine.skip);
      const upstream = lane.missingImport(mine.plain);
      if (upstream !== undefined) return lane.skip(upstream);
      plain ??= instantiateAside(this.#plain, mine.plain);
      const metered = instantiateAside(lane.metered, mine.metered);
      this.#compare(lane, command, plain, metered);
    });
  }

  #compare(
    lane: Lane,
    command: Command,
    plain: Outcome,
    metered: Outcome,
  ): void {
    const report = lane.report;
    const plainText = describeOutcome(plain);
    const meteredText = describeOutcome(metered);
    const isAssert = command.type !== "action";
    if (command.type === "action") report.actionsChecked++;
    else if (
      command.type === "assert_unlinkable" ||
      command.type === "assert_uninstantiable"
    ) {
      report.moduleAssertsChecked++;
    } else {
      report.assertsChecked++;
      if (plainText === meteredText) report.assertsAgreed++;
    }
    if (plainText !== meteredText) {
      lane.fail(command, `plain ${plainText}, metered ${meteredText}`);
    }
    if (!isAssert) return;
    if (meetsSpec(command, plain)) report.plainMetSpec++;
    else {
      report.plainMissedSpec.push({
        line: command.line,
        command: commandText(command),
        detail: `plain run: ${plainText}`,
      });
    }
  }
}
