/**
 * early-exit runs WebAssembly guests that the host can stop:
 *
 * 1. from a host import: the guest calls `env.interrupt_execution`, or any
 *    import calls `host.interrupt`, and the call ends `interrupted`;
 * 2. by a fuel budget: the guest's binary is rewritten to count its own work
 *    and it stops when the budget is spent;
 * 3. by a deadline, an `AbortSignal` or a `StopSignal` set on another
 *    thread, even a guest that never calls the host: a watchdog thread sets
 *    a flag the rewritten guest reads, in plain calls and in async calls
 *    that keep the event loop alive;
 * 4. by killing a child process: {@linkcode invokeIsolated} runs one call in
 *    a child Deno process.
 *
 * {@linkcode runWasi} runs WASI preview1 commands under the same stops, and
 * {@linkcode FuelMeter} meters a library that its own glue loads. Every way
 * a call can end is a typed outcome with a branded error. The rewriter that
 * meters a guest has its own entry point, `./instrument`.
 *
 * @example Usage
 * ```ts
 * import { isInterrupted, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("./guest/early_exit_guest.wasm", import.meta.url));
 * const result = guest.invoke("exit_early");
 * assert.equal(result.outcome, "interrupted");
 * if (result.outcome === "interrupted") assert.ok(isInterrupted(result.error));
 * ```
 *
 * @module
 */

export { Guest } from "./src/load/guest.ts";
export { loadGuest } from "./src/load/load_guest.ts";
export { prepareStops } from "./src/warmup/prepare_stops.ts";
export type { GuestOptions, HostControls } from "./src/load/guest_options.ts";
export type {
  AsyncCallOptions,
  CallOptions,
  RefuelRequest,
} from "./src/call/call_options.ts";
export type {
  CallOutcome,
  FuelUsage,
  OutcomeBase,
} from "./src/call/outcome.ts";
export type { InterruptOptions } from "./src/load/imports.ts";
export { FuelMeter } from "./src/meter/fuel.ts";
export type { FuelMeterOptions } from "./src/meter/meter_options.ts";
export type { StopReason } from "./src/call/stop_reason.ts";
export { DEFAULT_GRACE, type MeterRunOptions } from "./src/meter/meter_run.ts";
export { type CacheOption, RewriteCache } from "./src/cache/rewrite_cache.ts";
export { StopSignal } from "./src/watchdog/stop_signal.ts";
export {
  runWasi,
  type WasiInput,
  type WasiOptions,
  type WasiOutcome,
  type WasiOutput,
  type WasiOutputMode,
  type WasiPreopen,
  type WasiResult,
} from "./src/wasi/wasi.ts";
export { invokeIsolated } from "./src/isolate/isolate.ts";
export type {
  ChildPermissions,
  IsolatedCallOptions,
} from "./src/isolate/isolate_options.ts";
export { isolatedChildrenExited } from "./src/isolate/isolate_exits.ts";
export {
  isolatedChildrenLimit,
  setIsolatedChildrenLimit,
} from "./src/isolate/isolate_children.ts";
export type {
  AddedMemory,
  AddedMemoryDescriptor,
  CostTable,
  InstrumentedModule,
  InstrumentOptions,
  StopFlagImports,
} from "./src/wasm/mod.ts";
export type { CompileOptions } from "./src/module/compile_options.ts";
export type { GuestSource } from "./src/load/load.ts";
export type { ResourceLimits } from "./src/module/limits.ts";
export type { FunctionSignature, ValueType } from "./src/module/signatures.ts";
export {
  Aborted,
  BRAND,
  DeadlineExceeded,
  EarlyExitError,
  type EarlyExitErrorKind,
  ExportError,
  FuelExhausted,
  GuestLoadError,
  GuestTrap,
  HostImportError,
  ImportError,
  type InterruptDetails,
  Interrupted,
  InvalidModule,
  type InvalidModuleOptions,
  isAborted,
  isDeadlineExceeded,
  isEarlyExitError,
  isExportError,
  isFuelExhausted,
  isGuestLoadError,
  isGuestTrap,
  isHostImportError,
  isImportError,
  isInterrupted,
  isInvalidModule,
  isOutOfMemory,
  OutOfMemory,
  type TrapKind,
} from "./src/errors.ts";

// The watchdog's thread starts now, as the API is imported, and the
// loader's and the rewriter's code runs once while it boots: neither must
// fall in a load whose stop may come meanwhile (see src/warmup/stop_readiness.ts).
import { readyForStops } from "./src/warmup/stop_readiness.ts";
readyForStops();
