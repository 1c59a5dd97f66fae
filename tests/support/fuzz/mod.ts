/**
 * Differential fuzzing of the fuel meter.
 *
 * Random valid modules come from binaryen's translate-to-fuzz (`wasm-opt
 * -ttf`), run in this process from the `binaryen` npm package: its
 * `bin/wasm-opt` is an Emscripten build (JavaScript with the wasm embedded),
 * which {@linkcode WasmOpt} evaluates and instantiates once and then runs
 * command after command.
 *
 * Each module runs twice, unmetered and metered, under a deterministic host
 * ({@linkcode FuzzHost}) that implements binaryen's `fuzzing-support`
 * imports and records every call the guest makes into it. Every exported
 * function is called with fixed arguments; the return value or thrown error,
 * the host-call log and the exported state (globals, memory checksums, table
 * sizes) after each call must come out the same on both sides
 * ({@linkcode compareRuns}).
 *
 * Files: `random.ts`, `wasm_opt.ts`, `module_maker.ts` (generating),
 * `host.ts`, `run.ts` (running), `compare.ts`, and `seed.ts` (one seed end to
 * end, and whether a run compared enough); `rewrites.ts`, imported on its
 * own, names the rewrites compared.
 *
 * @module
 */

export { seededRandom } from "./random.ts";
export { WasmOpt, type WasmOptResult } from "./wasm_opt.ts";
export {
  type FuzzModule,
  type FuzzModuleCache,
  FuzzModuleMaker,
  profileOf,
  PROFILES,
} from "./module_maker.ts";
export { describeValue, FuzzHost } from "./host.ts";
export {
  type MeterInfo,
  runModule,
  type RunOptions,
  type RunRecord,
} from "./run.ts";
export { compareRuns } from "./compare.ts";
export {
  coverageProblem,
  fuzzSeed,
  type FuzzSeedOptions,
  internalError,
  MAX_REFUSED_SHARE,
  MIN_COVERAGE,
  MIN_SEEDS_FOR_COVERAGE,
  type SeedOutcome,
  type Transform,
} from "./seed.ts";
