/**
 * Refusals that name `invokeIsolated` as the way to run a guest anyway (a
 * function too dear to compile, an instantiation too large to stop), made
 * right for the runners that cannot take that way: a WASI command, which
 * `invokeIsolated` does not run, and the command line, which has no such
 * option.
 *
 * @module
 */

import { GuestLoadError, InvalidModule } from "./load_errors.ts";
import { isGuestLoadError, isInvalidModule } from "./errors.ts";

/** The clause each such refusal ends its fix with. */
const ISOLATED_HINT =
  /, or run it with invokeIsolated(?: and a timeout but no fuel, whose child is killed at the deadline|, where a failed instantiation ends only the child process)/;

/**
 * `error` without its advice to run the guest with `invokeIsolated`, which
 * cannot run a WASI command; any other error as it is.
 */
export function withoutIsolatedHint(error: unknown): unknown {
  if (isInvalidModule(error) && ISOLATED_HINT.test(error.message)) {
    const at = error.offset === undefined
      ? ""
      : ` (at byte offset ${error.offset})`;
    if (!error.message.endsWith(at)) return error;
    const message = error.message.slice(0, error.message.length - at.length);
    return new InvalidModule(message.replace(ISOLATED_HINT, ""), {
      offset: error.offset,
      ...causeOf(error),
    });
  }
  if (
    isGuestLoadError(error) && ISOLATED_HINT.test(error.hint) &&
    error.message.endsWith(`; ${error.hint}`)
  ) {
    const message = error.message.slice(
      0,
      error.message.length - error.hint.length - 2,
    );
    return new GuestLoadError(
      error.reason,
      message,
      error.hint.replace(ISOLATED_HINT, ""),
      causeOf(error),
    );
  }
  return error;
}

/** The error's cause, as options for its copy: none when it had none. */
function causeOf(error: Error): ErrorOptions {
  return "cause" in error ? { cause: error.cause } : {};
}

/**
 * `message` with its advice to run the guest with `invokeIsolated` said to
 * be for code, which the command line cannot follow.
 */
export function isolatedHintFromCode(message: string): string {
  return message.replace(
    ISOLATED_HINT,
    (hint) => hint.replace(", or run it", ", or, from code, run it"),
  );
}
