/**
 * What a spec run reports: per file, and summed over all files.
 *
 * @module
 */

import type { Command } from "../wast/mod.ts";
import type { Skip } from "./assembler.ts";
import { increment } from "./runner.ts";

/** A place where the metered run differs from the plain one, or worse. */
export interface Failure {
  line: number;
  command: string;
  detail: string;
}

/** What happened to one script. */
export interface FileReport {
  file: string;
  /** Asserts where both runs were compared (assert_return/trap/exhaustion/exception). */
  assertsChecked: number;
  /** Of those, how many the metered run got the same as the plain run. */
  assertsAgreed: number;
  /** Module-level asserts compared (assert_unlinkable/uninstantiable). */
  moduleAssertsChecked: number;
  /** Bare `invoke`/`get` actions compared. */
  actionsChecked: number;
  /** Module instantiations compared. */
  instancesCompared: number;
  /**
   * Calls to the fuel import. The counter starts at 0, so each metered
   * instance that runs any code asks once: zero means nothing was metered.
   */
  fuelRefills: number;
  /** Asserts where the plain run did what the spec says. */
  plainMetSpec: number;
  /** Asserts where it did not (V8 vs the spec, or a harness limit). */
  plainMissedSpec: Failure[];
  modulesLoaded: number;
  modulesMetered: number;
  /** How the loaded modules were assembled: binary, wabt, binaryen. */
  assembledVia: Record<string, number>;
  modulesSkipped: Skip[];
  /** Assertions and actions not run, by reason. */
  skipped: Record<string, number>;
  /** Metered != plain, or an invalid metered module. */
  failures: Failure[];
  /** Modules V8 accepts that the rewriter threw on. */
  rewriterErrors: Failure[];
  /** Set when the script could not be read at all. */
  unreadable?: string;
}

export function newReport(file: string): FileReport {
  return {
    file,
    assertsChecked: 0,
    assertsAgreed: 0,
    moduleAssertsChecked: 0,
    actionsChecked: 0,
    instancesCompared: 0,
    fuelRefills: 0,
    plainMetSpec: 0,
    plainMissedSpec: [],
    modulesLoaded: 0,
    modulesMetered: 0,
    assembledVia: {},
    modulesSkipped: [],
    skipped: {},
    failures: [],
    rewriterErrors: [],
  };
}

export function commandText(command: Command): string {
  switch (command.type) {
    case "module":
      return `module${command.module.id ? ` ${command.module.id}` : ""}`;
    case "action":
      return `${command.action.kind} "${command.action.name}"`;
    case "assert_return":
    case "assert_trap":
    case "assert_exhaustion":
    case "assert_exception":
      return `${command.type} (${command.action.kind} "${command.action.name}")`;
    default:
      return command.type;
  }
}

function addCounts(
  into: Record<string, number>,
  from: Record<string, number>,
): void {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}

function countLines(counts: Record<string, number>): string[] {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `    ${String(n).padStart(6)}  ${reason}`);
}

/**
 * Why a file had nothing compared, or `undefined` when something was.
 *
 * @param report One file's report.
 * @returns The reason, for the list of skipped files.
 */
export function fileSkipReason(report: FileReport): string | undefined {
  if (report.unreadable !== undefined) {
    return `unreadable: ${report.unreadable}`;
  }
  const compared = report.assertsChecked + report.moduleAssertsChecked +
    report.actionsChecked + report.instancesCompared;
  if (compared > 0) return undefined;
  const [top] = Object.entries(report.skipped).sort((a, b) => b[1] - a[1]);
  if (top === undefined) return "no assertions to compare";
  return `${top[0]} x${top[1]}`;
}

/**
 * The end-of-run summary: files run and skipped (by name, with reasons),
 * asserts checked and skipped (by reason), modules, and every failure.
 *
 * @param reports One report per file.
 * @param elapsedMs Wall time of the whole run.
 * @returns Printable text.
 */
export function formatSummary(
  reports: FileReport[],
  elapsedMs: number,
): string {
  const out: string[] = [];
  const skippedFiles = reports.flatMap((r) => {
    const why = fileSkipReason(r);
    return why === undefined ? [] : [`    ${r.file}: ${why}`];
  });
  const sum = (pick: (r: FileReport) => number) =>
    reports.reduce((n, r) => n + pick(r), 0);
  const skipped: Record<string, number> = {};
  const via: Record<string, number> = {};
  const moduleSkips: Record<string, number> = {};
  for (const r of reports) {
    addCounts(skipped, r.skipped);
    addCounts(via, r.assembledVia);
    for (const s of r.modulesSkipped) increment(moduleSkips, s.reason);
  }
  const checked = sum((r) => r.assertsChecked);
  const agreed = sum((r) => r.assertsAgreed);
  out.push(
    `spec suite summary (${(elapsedMs / 1000).toFixed(1)} s)`,
    `  files: ${
      reports.length - skippedFiles.length
    } run, ${skippedFiles.length} skipped`,
    ...skippedFiles,
    `  asserts checked (metered == unmetered): ${agreed} of ${checked}` +
      ` (assert_return/assert_trap/assert_exhaustion/assert_exception)`,
    `  module asserts checked (assert_unlinkable/assert_uninstantiable): ${
      sum((r) => r.moduleAssertsChecked)
    }`,
    `  bare actions compared: ${sum((r) => r.actionsChecked)}` +
      `, module instantiations compared: ${sum((r) => r.instancesCompared)}`,
    `  unmetered run vs the spec's expectation: ${
      sum((r) => r.plainMetSpec)
    } met, ${
      sum((r) => r.plainMissedSpec.length)
    } missed (V8 or harness, not the rewriter)`,
    ...reports.flatMap((r) =>
      r.plainMissedSpec.slice(0, 5).map((m) =>
        `    ${r.file}:${m.line} ${m.command}: ${m.detail}`
      )
    ),
    `  asserts/actions skipped: ${
      Object.values(skipped).reduce((a, b) => a + b, 0)
    }`,
    ...countLines(skipped),
    `  modules: ${sum((r) => r.modulesLoaded)} loaded (${
      Object.entries(via).map(([k, n]) => `${k} ${n}`).join(", ")
    }), ${sum((r) => r.modulesMetered)} metered, ${
      sum((r) => r.modulesSkipped.length)
    } skipped`,
    ...countLines(moduleSkips),
    ...reports.flatMap((r) =>
      r.modulesSkipped.map((s) => `    ${r.file}, ${s.detail}`)
    ),
  );
  const rewriterErrors = reports.flatMap((r) =>
    r.rewriterErrors.map((e) =>
      `    ${r.file}:${e.line} ${e.command}: ${e.detail}`
    )
  );
  out.push(
    `  fuel import calls (one per metered instance that ran code): ${
      sum((r) => r.fuelRefills)
    }`,
    `  instrument() threw on ${rewriterErrors.length} modules V8 accepts`,
  );
  out.push(...rewriterErrors);
  const failures = reports.flatMap((r) =>
    r.failures.map((f) => `    ${r.file}:${f.line} ${f.command}: ${f.detail}`)
  );
  out.push(`  failures (metered differs or is invalid): ${failures.length}`);
  out.push(...failures);
  return out.join("\n");
}
