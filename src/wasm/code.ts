/**
 * Rewrites the code section in two passes, so that the output is allocated
 * once at its exact size: {@linkcode CodeRewriter.scan} plans each body
 * (`scan.ts`) and returns its rewritten size; later,
 * {@linkcode CodeRewriter.emit} writes them all (`emit.ts`), and the
 * branch hints after them (`branch_hints.ts`).
 *
 * @module
 */

import { branchHintsSizeSteps, writeBranchHintsSteps } from "./branch_hints.ts";
import type { BulkHelper } from "./bulk_helpers.ts";
import { CheckTemplates } from "./check_templates.ts";
import { CodePlan, type FuelTargets, type RegisterCopy } from "./code_plan.ts";
import type { CostModel } from "./costs.ts";
import { emitBodies } from "./emit.ts";
import type { Emitter } from "./emitter.ts";
import type { ModuleInfo } from "./module.ts";
import { BodyScanner } from "./scan.ts";
import type { Steps } from "./steps.ts";
import type { Writer } from "./writer.ts";

export type { FuelTargets, RegisterCopy };

/**
 * Instruments the function bodies of one module.
 *
 * @example Usage
 * ```ts ignore
 * const rewriter = new CodeRewriter(bytes, info, costs, targets);
 * const size = rewriter.scan(bodyStart, bodyEnd, functionIndex);
 * // …after every body is scanned and `size`s are summed:
 * runSteps(rewriter.emit(writer));
 * ```
 */
export class CodeRewriter {
  readonly #bytes: Uint8Array;
  readonly #targets: FuelTargets;
  readonly #code: CodePlan;
  readonly #templates: CheckTemplates;
  readonly #scanner: BodyScanner;

  /**
   * @param bytes The input module.
   * @param info The module's sections before the code.
   * @param costs The cost model.
   * @param targets The added global and function.
   * @param codeSize The code section's size, to size the edit list.
   * @param bodyCount How many bodies the code section has.
   */
  constructor(
    bytes: Uint8Array,
    info: ModuleInfo,
    costs: CostModel,
    targets: FuelTargets,
    codeSize = 0,
    bodyCount = 0,
  ) {
    this.#bytes = bytes;
    this.#targets = targets;
    this.#code = new CodePlan(codeSize, bodyCount);
    this.#code.functionShift = info.functionShift;
    this.#templates = new CheckTemplates(targets);
    this.#scanner = new BodyScanner(
      bytes,
      info,
      costs,
      targets,
      this.#code,
      this.#templates,
    );
  }

  /**
   * Decodes and checks one function body and plans its rewrite.
   *
   * @param start The first byte of the body (after its size).
   * @param end One past the body's last byte.
   * @param functionIndex The body's original function index.
   * @returns The size of the rewritten body, its size prefix included.
   */
  scan(start: number, end: number, functionIndex: number): number {
    return this.#scanner.scan(start, end, functionIndex);
  }

  /**
   * {@linkcode CodeRewriter.scan} in steps of about `STEP_BYTES` of the
   * body's code.
   *
   * @param start The first byte of the body (after its size).
   * @param end One past the body's last byte.
   * @param functionIndex The body's original function index.
   * @returns The steps, which return the size of the rewritten body, its
   *   size prefix included.
   */
  scanSteps(start: number, end: number, functionIndex: number): Steps<number> {
    return this.#scanner.scanSteps(start, end, functionIndex);
  }

  /**
   * Deadline-only, once every body is scanned: leaves out the entry checks
   * that need not stay and adds those that calls need (see
   * `BodyScanner.settleEntryChecks`), in steps.
   *
   * @param small The size, size prefix included, up to which a body
   * counts as small.
   * @returns The steps, which return how much the bodies' sizes (size
   * prefixes included) grow, and how many more bodies are small.
   */
  settleEntryChecks(
    small: number,
  ): Steps<{ growth: number; small: number }> {
    return this.#scanner.settleEntryChecks(small);
  }

  /** The bulk operators' helpers, in index order. */
  get helpers(): readonly BulkHelper[] {
    return this.#code.helpers;
  }

  /** The original indices of the bodies dear to compile (`precompile.ts`). */
  get dear(): number[] {
    return this.#code.dear.indices;
  }

  /**
   * Sets the first helper's function index. Call it before
   * {@linkcode CodeRewriter.emit}.
   *
   * @param index The function index.
   */
  setHelperBase(index: number): void {
    this.#code.helperBase = index;
  }

  /**
   * The most that settling the entry checks
   * ({@linkcode CodeRewriter.settleEntryChecks}) may take off one body's
   * rewritten size, its size prefix included: its entry's flag check, and
   * a byte of the prefix. 0 when they all stay (a rewrite that counts fuel).
   */
  get mostSettledAway(): number {
    const flag = this.#templates.flag.length;
    return flag > 0 && !this.#targets.countsFuel ? flag + 1 : 0;
  }

  /** The register copies made, in index order. */
  get copies(): readonly RegisterCopy[] {
    return this.#code.copies;
  }

  /**
   * The size of the branch hint section; 0 when there are no checks. Call
   * it after the scan.
   *
   * @returns The steps, which return the section's size, header included.
   */
  branchHintsSize(): Steps<number> {
    return branchHintsSizeSteps(this.#code);
  }

  /**
   * Writes the branch hint section. Call it after
   * {@linkcode CodeRewriter.emit}.
   *
   * @param w The output.
   * @returns The steps that write it.
   */
  writeBranchHints(w: Writer): Steps<void> {
    return writeBranchHintsSteps(this.#code, w);
  }

  /**
   * Writes every scanned body, in scan order, each with its size prefix.
   * `w` must already have room for all of them.
   *
   * @param w The output.
   * @returns The steps that write them.
   */
  emit(w: Emitter): Steps<void> {
    return emitBodies(
      w,
      this.#code,
      this.#templates,
      this.#bytes,
      this.#targets,
    );
  }
}
