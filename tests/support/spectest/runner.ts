/**
 * The lockstep runner: reads a script and runs each command on both runs,
 * recording where they differ.
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
  /** The rewriter under test. */
  rewrite: Rewriter;
  /** Builds module bytes from script text. */
  assembler: Assembler;
  /**
   * Scripts already parsed, by their text, shared by runners that run the
   * same scripts with other rewriters: with one {@linkcode Assembler}, each
   * module is then parsed and assembled once.
   */
  parsed?: ParsedScripts;
}

/** Parsed scripts by their text, or the parse error. */
export type ParsedScripts = Map<string, Command[] | { error: unknown }>;

/**
 * Runs scripts in lockstep: every command is done by a plain run and by a
 * metered run, and their outcomes are compared.
 */
export class SpecRunner {
  readonly #rewrite: Rewriter;
  readonly #assembler: Assembler;
  readonly #harnesses: HarnessFactory;
  readonly #parsed: ParsedScripts;

  /** @param options The rewriter and assembler to use. */
  constructor(options: SpecRunnerOptions) {
    this.#rewrite = options.rewrite;
    this.#assembler = options.assembler;
    this.#harnesses = new HarnessFactory(options.assembler);
    this.#parsed = options.parsed ?? new Map();
  }

  /**
   * Runs one script.
   *
   * @param file A name for reports.
   * @param source The script text.
   * @returns What was checked, skipped and failed.
   */
  async runFile(file: string, source: string): Promise<FileReport> {
    return await new FileRun(
      file,
      this.#rewrite,
      this.#assembler,
      this.#harnesses,
    )
      .run(this.#parse(source));
  }

  #parse(source: string): Command[] | { error: unknown } {
    let parsed = this.#parsed.get(source);
    if (parsed === undefined) {
      try {
        parsed = parseScript(source);
      } catch (error) {
        parsed = { error };
      }
      this.#parsed.set(source, parsed);
    }
    return parsed;
  }
}

export function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** The state of one script's lockstep run. */
class FileRun {
  readonly report: FileReport;
  readonly #plain = new Run();
  readonly #metered = new Run(() => this.report.fuelRefills++);
  /** Modules, by `$id` or registered name, that are not there, and why. */
  readonly #missing = new Map<string, Skip>();
  #currentMissing: Skip | undefined = {
    reason: "no module defined yet",
    detail: "",
  };

  constructor(
    file: string,
    readonly rewrite: Rewriter,
    readonly assembler: Assembler,
    readonly harnesses: HarnessFactory,
  ) {
    this.report = newReport(file);
  }

  async run(
    commands: Command[] | { error: unknown },
  ): Promise<FileReport> {
    if (!Array.isArray(commands)) {
      this.report.unreadable = errorText(commands.error);
      return this.report;
    }
    for (const command of commands) await this.#step(command);
    return this.report;
  }

  #skip(skip: Skip): void {
    increment(this.report.skipped, skip.reason);
  }

  #fail(command: Command, detail: string): void {
    this.report.failures.push({
      line: command.line,
      command: commandText(command),
      detail,
    });
  }

  async #step(command: Command): Promise<void> {
    switch (command.type) {
      case "module": {
        const def = command.module;
        const compiled = await this.#compile(command, def);
        if ("skip" in compiled) {
          if (!def.definition) return this.#markMissing(def.id, compiled.skip);
          if (def.id !== undefined) this.#missing.set(def.id, compiled.skip);
          return;
        }
        if (def.definition) {
          if (def.id !== undefined) {
            this.#plain.definitions.set(def.id, compiled.plain);
            this.#metered.definitions.set(def.id, compiled.metered);
            this.#missing.delete(def.id);
          }
          return;
        }
        return this.#instantiate(
          command,
          def.id,
          compiled.plain,
          compiled.metered,
        );
      }
      case "module_instance": {
        const plain = command.definition === undefined
          ? undefined
          : this.#plain.definitions.get(command.definition);
        const metered = command.definition === undefined
          ? undefined
          : this.#metered.definitions.get(command.definition);
        if (plain === undefined || metered === undefined) {
          const why = this.#missing.get(command.definition ?? "") ??
            { reason: "module definition not available", detail: "" };
          return this.#markMissing(command.id, why);
        }
        return this.#instantiate(command, command.id, plain, metered);
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
        return this.#skip({
          reason:
            "assert_invalid/assert_malformed (rejected modules have nothing to meter)",
          detail: "",
        });
      case "unknown":
        return this.#skip({ reason: command.reason, detail: "" });
    }
  }

  /** Assembles, checks with V8, and meters one module. */
  async #compile(
    command: Command,
    def: ModuleDef,
  ): Promise<{ plain: Compiled; metered: Compiled } | { skip: Skip }> {
    const assembled = await this.assembler.assemble(def);
    if ("skip" in assembled) {
      this.report.modulesSkipped.push({
        reason: assembled.skip.reason,
        detail: `line ${def.line}: ${assembled.skip.detail}`,
      });
      return assembled;
    }
    increment(this.report.assembledVia, assembled.via);
    this.report.modulesLoaded++;
    const plain: Compiled = {
      module: assembled.module,
      bytes: assembled.bytes,
    };
    let rewritten: Rewritten;
    try {
      rewritten = this.rewrite(assembled.bytes);
    } catch (error) {
      this.report.rewriterErrors.push({
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
      this.#fail(
        command,
        `metered module fails validation: ${firstLine(errorText(error))}`,
      );
      return { skip: { reason: "metered module invalid", detail: "" } };
    }
    if (!WebAssembly.validate(rewritten.bytes as BufferSource)) {
      this.#fail(command, "metered module fails WebAssembly.validate");
      return { skip: { reason: "metered module invalid", detail: "" } };
    }
    this.report.modulesMetered++;
    return {
      plain,
      metered: {
        module,
        bytes: rewritten.bytes,
        fuel: { module: rewritten.importModule, name: rewritten.importName },
        addedImports: rewritten.addedImports,
      },
    };
  }

  #missingImport(compiled: Compiled): Skip | undefined {
    for (const { module } of WebAssembly.Module.imports(compiled.module)) {
      const why = this.#missing.get(`"${module}"`);
      if (why !== undefined) return why;
    }
    return undefined;
  }

  #instantiate(
    command: Command,
    id: string | undefined,
    plain: Compiled,
    metered: Compiled,
  ): void {
    const upstream = this.#missingImport(plain);
    if (upstream !== undefined) return this.#markMissing(id, upstream);
    const plainOutcome = this.#plain.instantiate(plain, id);
    const meteredOutcome = this.#metered.instantiate(metered, id);
    this.report.instancesCompared++;
    const same =
      describeOutcome(plainOutcome) === describeOutcome(meteredOutcome);
    if (!same) {
      this.#fail(
        command,
        `instantiation: plain ${describeOutcome(plainOutcome)}, metered ${
          describeOutcome(meteredOutcome)
        }`,
      );
    }
    if (
      plainOutcome.kind !== "instance" || meteredOutcome.kind !== "instance"
    ) {
      return this.#markMissing(id, {
        reason: "module not instantiable",
        detail: describeOutcome(plainOutcome),
      });
    }
    this.#currentMissing = undefined;
    if (id !== undefined) this.#missing.delete(id);
  }

  #markMissing(id: string | undefined, why: Skip): void {
    this.#currentMissing = why;
    this.#plain.current = undefined;
    this.#metered.current = undefined;
    if (id !== undefined) {
      this.#missing.set(id, why);
      this.#plain.instances.delete(id);
      this.#metered.instances.delete(id);
    }
  }

  #register(as: string, module: string | undefined): void {
    const why = module === undefined
      ? this.#currentMissing
      : this.#missing.get(module);
    if (why !== undefined) {
      this.#missing.set(`"${as}"`, why);
      return;
    }
    const plain = this.#plain.find(module);
    const metered = this.#metered.find(module);
    if (plain === undefined || metered === undefined) {
      this.#missing.set(`"${as}"`, unknownModule(module));
      return;
    }
    this.#missing.delete(`"${as}"`);
    this.#plain.registry[as] = plain.instance.exports;
    this.#metered.registry[as] = metered.instance.exports;
  }

  #act(
    command: Extract<Command, { action: Action }>,
    action: Action,
  ): void {
    const why = action.module === undefined
      ? this.#currentMissing
      : this.#missing.get(action.module);
    if (why !== undefined) return this.#skip(why);
    const plainTarget = this.#plain.find(action.module);
    const meteredTarget = this.#metered.find(action.module);
    if (plainTarget === undefined || meteredTarget === undefined) {
      return this.#skip(unknownModule(action.module));
    }
    const plan = action.kind === "invoke"
      ? planCall(plainTarget.signatures?.get(action.name), action.args)
      : "direct";
    if (typeof plan === "object") return this.#skip(plan);
    const plain = perform(plainTarget, action, plan, this.harnesses);
    const metered = perform(meteredTarget, action, plan, this.harnesses);
    this.#compare(command, plain, metered);
  }

  async #moduleAssert(
    command: Extract<Command, { module: ModuleDef }>,
    def: ModuleDef,
  ): Promise<void> {
    const compiled = await this.#compile(command, def);
    if ("skip" in compiled) return this.#skip(compiled.skip);
    const upstream = this.#missingImport(compiled.plain);
    if (upstream !== undefined) return this.#skip(upstream);
    // Instantiate without touching `current`: a failing module replaces nothing.
    const plainCurrent = this.#plain.current;
    const meteredCurrent = this.#metered.current;
    const plain = this.#plain.instantiate(compiled.plain, undefined);
    const metered = this.#metered.instantiate(compiled.metered, undefined);
    this.#plain.current = plainCurrent;
    this.#metered.current = meteredCurrent;
    this.#compare(command, plain, metered);
  }

  #compare(command: Command, plain: Outcome, metered: Outcome): void {
    const report = this.report;
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
      this.#fail(command, `plain ${plainText}, metered ${meteredText}`);
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
