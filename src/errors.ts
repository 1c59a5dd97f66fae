/**
 * Branded errors: every kind, its class, and its guard.
 *
 * {@linkcode ERROR_CLASSES} is the one list of kinds. The `is*` guards are
 * made from it, isolation's wire format rebuilds errors from it, and the
 * outcomes of a call (`outcome.ts`) are keyed by it. The guards check the
 * brand, not the class, so they also recognise errors made by another copy
 * of early-exit.
 *
 * @module
 */

import {
  brandOf,
  type EarlyExitError,
  type EarlyExitErrorKind,
} from "./early_exit_error.ts";
import {
  ExportError,
  GuestLoadError,
  ImportError,
  InvalidModule,
} from "./load_errors.ts";
import {
  Aborted,
  DeadlineExceeded,
  FuelExhausted,
  GuestTrap,
  HostImportError,
  Interrupted,
  OutOfMemory,
} from "./stop_errors.ts";

export {
  BRAND,
  EarlyExitError,
  type EarlyExitErrorKind,
  isEarlyExitError,
  withoutStack,
} from "./early_exit_error.ts";
export {
  ExportError,
  GuestLoadError,
  ImportError,
  InvalidModule,
  type InvalidModuleOptions,
} from "./load_errors.ts";
export {
  Aborted,
  DeadlineExceeded,
  FuelExhausted,
  GuestTrap,
  HostImportError,
  type InterruptDetails,
  Interrupted,
  OutOfMemory,
  type TrapKind,
} from "./stop_errors.ts";

/** The class of each kind of branded error. */
export const ERROR_CLASSES = {
  Interrupted,
  GuestTrap,
  HostImportError,
  InvalidModule,
  GuestLoadError,
  ImportError,
  ExportError,
  FuelExhausted,
  DeadlineExceeded,
  Aborted,
  OutOfMemory,
} as const satisfies Record<
  EarlyExitErrorKind,
  abstract new (...args: never[]) => EarlyExitError
>;

/** The error class of a kind. */
export type ErrorOfKind<K extends EarlyExitErrorKind> = InstanceType<
  (typeof ERROR_CLASSES)[K]
>;

/** The class of `kind`, or `undefined` when `kind` names none. */
export function errorClassOf(
  kind: unknown,
): (typeof ERROR_CLASSES)[EarlyExitErrorKind] | undefined {
  return typeof kind === "string" && Object.hasOwn(ERROR_CLASSES, kind)
    ? ERROR_CLASSES[kind as EarlyExitErrorKind]
    : undefined;
}

function guardOf<K extends EarlyExitErrorKind>(
  kind: K,
): (value: unknown) => value is ErrorOfKind<K> {
  const guard = (value: unknown): value is ErrorOfKind<K> =>
    brandOf(value) === kind;
  return Object.defineProperty(guard, "name", { value: `is${kind}` });
}

/**
 * Whether `value` is an {@linkcode InvalidModule} error from any copy of
 * early-exit.
 *
 * @example Usage
 * ```ts
 * import { isInvalidModule } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isInvalidModule(new TypeError("x")), false);
 * ```
 */
export const isInvalidModule: (value: unknown) => value is InvalidModule =
  guardOf("InvalidModule");

/**
 * Whether `value` is an {@linkcode Interrupted} error from any copy of
 * early-exit, including one loaded from another URL.
 *
 * @example Usage
 * ```ts
 * import { isInterrupted } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const foreign = { [Symbol.for("early-exit.kind")]: "Interrupted" };
 * assert.ok(isInterrupted(foreign));
 * ```
 */
export const isInterrupted: (value: unknown) => value is Interrupted = guardOf(
  "Interrupted",
);

/**
 * Whether `value` is a {@linkcode GuestTrap} from any copy of early-exit.
 *
 * @example Usage
 * ```ts
 * import { isGuestTrap } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isGuestTrap(new WebAssembly.RuntimeError("unreachable")), false);
 * ```
 */
export const isGuestTrap: (value: unknown) => value is GuestTrap = guardOf(
  "GuestTrap",
);

/**
 * Whether `value` is a {@linkcode HostImportError} from any copy of
 * early-exit.
 *
 * @example Usage
 * ```ts
 * import { isHostImportError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isHostImportError("x"), false);
 * ```
 */
export const isHostImportError: (value: unknown) => value is HostImportError =
  guardOf("HostImportError");

/**
 * Whether `value` is a {@linkcode GuestLoadError} from any copy of early-exit.
 *
 * @example Usage
 * ```ts
 * import { isGuestLoadError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isGuestLoadError(null), false);
 * ```
 */
export const isGuestLoadError: (value: unknown) => value is GuestLoadError =
  guardOf("GuestLoadError");

/**
 * Whether `value` is an {@linkcode ImportError} from any copy of early-exit.
 *
 * @example Usage
 * ```ts
 * import { isImportError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isImportError(undefined), false);
 * ```
 */
export const isImportError: (value: unknown) => value is ImportError = guardOf(
  "ImportError",
);

/**
 * Whether `value` is an {@linkcode ExportError} from any copy of early-exit.
 *
 * @example Usage
 * ```ts
 * import { isExportError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isExportError(new Error()), false);
 * ```
 */
export const isExportError: (value: unknown) => value is ExportError = guardOf(
  "ExportError",
);

/**
 * Whether `value` is a {@linkcode FuelExhausted} error from any copy of
 * early-exit.
 *
 * @example Usage
 * ```ts
 * import { isFuelExhausted } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isFuelExhausted(new RangeError("x")), false);
 * ```
 */
export const isFuelExhausted: (value: unknown) => value is FuelExhausted =
  guardOf("FuelExhausted");

/**
 * Whether `value` is a {@linkcode DeadlineExceeded} error from any copy of
 * early-exit.
 *
 * @example Usage
 * ```ts
 * import { isDeadlineExceeded } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isDeadlineExceeded({}), false);
 * ```
 */
export const isDeadlineExceeded: (
  value: unknown,
) => value is DeadlineExceeded = guardOf("DeadlineExceeded");

/**
 * Whether `value` is an {@linkcode Aborted} error from any copy of
 * early-exit.
 *
 * @example Usage
 * ```ts
 * import { isAborted } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isAborted(new Error("x")), false);
 * ```
 */
export const isAborted: (value: unknown) => value is Aborted = guardOf(
  "Aborted",
);

/**
 * Whether `value` is an {@linkcode OutOfMemory} error from any copy of
 * early-exit.
 *
 * @example Usage
 * ```ts
 * import { isOutOfMemory } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isOutOfMemory(new RangeError("Array buffer allocation failed")), false);
 * ```
 */
export const isOutOfMemory: (value: unknown) => value is OutOfMemory = guardOf(
  "OutOfMemory",
);
