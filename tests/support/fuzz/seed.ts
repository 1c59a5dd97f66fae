/**
 * One seed, end to end: generate, meter, run both sides, compare; and
 * whether a run of many seeds compared enough to count.
 *
 * @module
 */

import { isEarlyExitError, isInvalidModule } from "../../../src/errors.ts";
import {
  type ModuleSignatures,
  readSignatures,
} from "../../../src/module/signatures.ts";
import { refusedAtLimit } from "../../../src/wasm/reader.ts";
import { compareRuns } from "./compare.ts";
import { describeValue } from "./host.ts";
import type { FuzzModuleMaker } from "./module_maker.ts";
import { type MeterInfo, runModule, type RunRecord } from "./run.ts";

/**
 * When `error` is an `InvalidModule` that wraps a plain JavaScript error
 * (`TypeError`, `RangeError`…), the rewriter's own code failed and the
 * wrapper only relabelled it: returns that cause as text.
 */
export function internalError(error: unknown): string | undefined {
  if (!isInvalidModule(error)) return undefined;
  const cause = error.cause;
  if (cause === undefined || isEarlyExitError(cause)) return undefined;
  if (cause instanceof Error) {
    const frame = cause.stack?.split("\n").find((line) =>
      line.includes("/src/")
    )?.trim();
    return `${cause.name}: ${cause.message}${frame ? ` ${frame}` : ""}`;
  }
  return `thrown ${describeValue(cause)}`;
}

/** A rewriter under test: `instrument` or a stand-in. */
export type Transform = (bytes: Uint8Array) => MeterInfo & {
  bytes: Uint8Array;
};

/** What became of one seed. */
export interface SeedOutcome {
  seed: number;
  profile: string;
  /** The module's size in bytes. */
  size: number;
  /** Exported functions whose behaviour was compared. */
  compared: number;
  /** Exported functions in the module. */
  functions: number;
  /** `ok`, or how instantiating trapped or threw (the same on both sides). */
  instantiation: string;
  /** Why the comparison ended before the last export, if it did. */
  cut?: string;
  /** Fuel refills granted on the metered side. */
  refills: number;
  /** What went wrong, if anything: a failure of the rewriter. */
  failure?: string;
  /**
   * Why the rewriter refused the module at one of its documented limits
   * (a function too dear for the engine to compile at its first call, say),
   * if it did: not a failure, and nothing compared.
   */
  refused?: string;
}

/**
 * How much a fuzz run must compare to count as a test: on average at least
 * this many exports a seed, and at least this share of the exports it was
 * offered. Seeds 1 to 500 compare 6,416 of 6,619 exports (12.8 a seed, 97%);
 * a harness or generator that silently stopped comparing would fall far
 * below. Runs of fewer than {@link MIN_SEEDS_FOR_COVERAGE} seeds are too
 * small to judge.
 */
export const MIN_COVERAGE = { perSeed: 10, share: 0.9 } as const;
/**
 * The most seeds of a run, as a share, that the rewriter may refuse at its
 * limits: long runs met about one in 2,000 (functions of 130 to 180 locals
 * and 500 to 1,100 control points, over the compile limit); a limit that
 * began to refuse ordinary modules would pass this.
 */
export const MAX_REFUSED_SHARE = 0.01;
/** The smallest run {@link coverageProblem} judges. */
export const MIN_SEEDS_FOR_COVERAGE = 100;

/**
 * Why a run of `outcomes` compared too few exports to count, or had too
 * many refused at a limit, or `undefined` when it compared enough (or was
 * too small to judge).
 */
export function coverageProblem(
  outcomes: readonly Pick<SeedOutcome, "compared" | "functions" | "refused">[],
): string | undefined {
  if (outcomes.length < MIN_SEEDS_FOR_COVERAGE) return undefined;
  const refused = outcomes.filter((o) => o.refused !== undefined).length;
  if (refused > MAX_REFUSED_SHARE * outcomes.length) {
    return `${refused} of ${outcomes.length} seeds refused at a limit: at ` +
      `most ${MAX_REFUSED_SHARE * 100}% are expected`;
  }
  const compared = outcomes.reduce((n, o) => n + o.compared, 0);
  const functions = outcomes.reduce((n, o) => n + o.functions, 0);
  const perSeed = compared / outcomes.length;
  const share = functions === 0 ? 0 : compared / functions;
  if (perSeed >= MIN_COVERAGE.perSeed && share >= MIN_COVERAGE.share) {
    return undefined;
  }
  return `only ${compared} of ${functions} exports compared over ` +
    `${outcomes.length} seeds (${perSeed.toFixed(1)} a seed, ` +
    `${(share * 100).toFixed(0)}%): at least ${MIN_COVERAGE.perSeed} a ` +
    `seed and ${MIN_COVERAGE.share * 100}% are expected`;
}

/** Options for {@linkcode fuzzSeed}. */
export interface FuzzSeedOptions {
  /** Fuel per export before the metered run counts as too long. */
  budget?: bigint;
}

/**
 * Generates the module for `seed`, meters it with `transform`, runs both and
 * compares them. The metered side runs first: its fuel bounds the work, so
 * the unmetered side only runs the exports that finished within budget.
 */
export async function fuzzSeed(
  maker: FuzzModuleMaker,
  transform: Transform,
  seed: number,
  options: FuzzSeedOptions = {},
): Promise<SeedOutcome> {
  const { profile, bytes } = await maker.make(seed);
  const iface = readSignatures(bytes);
  const functions =
    iface.exportList.filter((e) => e.kind === "function").length;
  const outcome: SeedOutcome = {
    seed,
    profile,
    size: bytes.length,
    compared: 0,
    functions,
    instantiation: "ok",
    refills: 0,
  };
  let metered: ReturnType<Transform>;
  try {
    metered = transform(bytes);
  } catch (error) {
    const internal = internalError(error);
    if (internal === undefined && refusedAtLimit(error)) {
      outcome.refused = String(error);
      return outcome;
    }
    outcome.failure = internal
      ? `the rewriter crashed on a valid module: ${error} (cause: ${internal})`
      : isInvalidModule(error)
      ? `the rewriter rejected a valid module: ${error}`
      : `the rewriter threw a non-branded error on a valid module: ${error}`;
    return outcome;
  }
  try {
    new WebAssembly.Module(metered.bytes as BufferSource);
  } catch (error) {
    outcome.failure = `the metered module is invalid: ${error}`;
    return outcome;
  }
  const meteredIface = readSignatures(metered.bytes);
  const interfaceProblem = checkAddedInterface(iface, meteredIface, metered);
  if (interfaceProblem) {
    outcome.failure = interfaceProblem;
    return outcome;
  }
  let meteredRun: RunRecord;
  let originalRun: RunRecord;
  try {
    meteredRun = runModule(metered.bytes, iface, {
      meter: metered,
      budget: options.budget,
    });
    outcome.refills = meteredRun.refills;
    if (meteredRun.contractErrors.length > 0) {
      outcome.failure = meteredRun.contractErrors.slice(0, 3).join("; ");
      return outcome;
    }
    const maxCalls = meteredRun.stop?.at ?? meteredRun.calls.length;
    originalRun = runModule(bytes, iface, { maxCalls });
  } catch (error) {
    // Not the rewriter's fault: an import this host lacks, say.
    outcome.failure = `the fuzz harness failed: ${error}`;
    return outcome;
  }
  const { compared, mismatch } = compareRuns(originalRun, meteredRun);
  outcome.compared = compared;
  outcome.instantiation = originalRun.instantiation;
  if (mismatch) {
    outcome.failure = `behaviour differs: ${mismatch}`;
    return outcome;
  }
  const stop = originalRun.stop ?? meteredRun.stop;
  if (stop && stop.at < functions) {
    const side = originalRun.stop ? "unmetered" : "metered";
    outcome.cut = `${stop.reason} (${side}) at call #${stop.at}`;
  }
  return outcome;
}

/**
 * The metered module must import and export exactly what the original does,
 * plus the one function import and the one fuel global export it reports
 * (and the other imports it reports adding).
 */
function checkAddedInterface(
  original: ModuleSignatures,
  metered: ModuleSignatures,
  meter: MeterInfo,
): string | undefined {
  const key = (e: { module?: string; name: string; kind: string }) =>
    `${e.module ?? ""}.${e.name}:${e.kind}`;
  const importsBefore = original.imports.map(key).sort().join("\n");
  const addedImport = metered.imports.filter((e) =>
    e.module === meter.importModule && e.name === meter.importName
  );
  const otherAdded = new Set(Object.keys(meter.addedImports?.() ?? {}));
  const importsAfter = metered.imports.filter((e) =>
    !addedImport.includes(e) &&
    !(e.module === meter.importModule && otherAdded.has(e.name))
  ).map(key).sort().join("\n");
  if (addedImport.length !== 1 || addedImport[0].kind !== "function") {
    return `the metered module does not import one function ${meter.importModule}.${meter.importName}`;
  }
  const sig = addedImport[0].signature;
  if (
    sig?.params.join() !== "i64,i64" || sig?.results.join() !== "i64"
  ) {
    return `out_of_fuel has type (${sig?.params}) -> (${sig?.results}), expected (i64, i64) -> i64`;
  }
  if (importsBefore !== importsAfter) {
    return "the metered module's other imports differ from the original's";
  }
  const exportsBefore = original.exportList.map(key).join("\n");
  const fuel = metered.exportList.filter((e) => e.name === meter.fuelExport);
  const precompile = metered.exportList.filter((e) =>
    e.name === meter.precompile?.export
  );
  if (
    meter.precompile !== undefined &&
    (precompile.length !== 1 || precompile[0].kind !== "function")
  ) {
    return `the metered module does not export one function ${meter.precompile.export}`;
  }
  const exportsAfter = metered.exportList.filter((e) =>
    !fuel.includes(e) && !precompile.includes(e)
  ).map(key).join("\n");
  if (fuel.length !== 1 || fuel[0].kind !== "global") {
    return `the metered module does not export one global ${meter.fuelExport}`;
  }
  if (exportsBefore !== exportsAfter) {
    return "the metered module's other exports differ from the original's";
  }
  return undefined;
}
