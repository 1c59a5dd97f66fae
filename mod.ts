/**
 * early-exit runs WebAssembly guests that the host can stop: from a host
 * import (the guest calls `env.interrupt_execution` and the host cuts the
 * call short), with a branded error for every way a call can end.
 *
 * @example Usage
 * ```ts
 * import { isInterrupted, loadGuest } from "./mod.ts";
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

export {
  type CallOutcome,
  Guest,
  type GuestOptions,
  type HostControls,
  type InterruptOptions,
  loadGuest,
} from "./src/guest.ts";
export type { GuestSource } from "./src/load.ts";
export type { FunctionSignature, ValueType } from "./src/signatures.ts";
export {
  BRAND,
  EarlyExitError,
  type EarlyExitErrorKind,
  ExportError,
  GuestLoadError,
  GuestTrap,
  HostImportError,
  ImportError,
  type InterruptDetails,
  Interrupted,
  InvalidModule,
  type InvalidModuleOptions,
  isEarlyExitError,
  isExportError,
  isGuestLoadError,
  isGuestTrap,
  isHostImportError,
  isImportError,
  isInterrupted,
  isInvalidModule,
  type TrapKind,
} from "./src/errors.ts";
