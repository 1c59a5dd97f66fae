/**
 * The errors that keep a guest from running: its bytes are not a module,
 * its source cannot be read, an import is missing, or an export cannot be
 * called as asked.
 *
 * @module
 */

import { EarlyExitError, oneLineText } from "./early_exit_error.ts";

/**
 * Where in a module's bytes a problem was found.
 *
 * @example Usage
 * ```ts
 * import {
 *   InvalidModule,
 *   type InvalidModuleOptions,
 * } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const where: InvalidModuleOptions = { offset: 8 };
 * assert.equal(new InvalidModule("unexpected end", where).offset, 8);
 * ```
 */
export interface InvalidModuleOptions extends ErrorOptions {
  /** The byte offset, from the start of the module. */
  offset?: number;
}

/**
 * The guest's bytes are not a module this runner can compile or rewrite:
 * not wasm at all, truncated, corrupted, or using an operator it does not
 * know.
 *
 * @example Usage
 * ```ts
 * import { InvalidModule, isInvalidModule } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const error = new InvalidModule("unknown opcode 0xff", { offset: 42 });
 * assert.ok(isInvalidModule(error));
 * assert.equal(error.offset, 42);
 * ```
 */
export class InvalidModule extends EarlyExitError {
  /** The byte offset of the problem, when known. */
  declare readonly offset: number | undefined;

  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options The byte offset and cause.
   */
  constructor(message: string, options?: InvalidModuleOptions) {
    const at = options?.offset === undefined
      ? ""
      : ` (at byte offset ${options.offset})`;
    super("InvalidModule", `${message}${at}`, options);
    this.offset = options?.offset;
  }
}

/**
 * The guest could not be loaded: the file is missing, is a directory, read
 * permission is missing, the URL could not be fetched, or (`limits`) the
 * module needs a memory or table larger than its `limits` allow, or has more
 * memories or table elements than a guest loaded in process may have.
 * `hint` says how to fix it.
 *
 * @example Usage
 * ```ts
 * import { GuestLoadError, isGuestLoadError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const error = new GuestLoadError("not_found", "no such file: a.wasm", "check the path");
 * assert.ok(isGuestLoadError(error));
 * assert.equal(error.reason, "not_found");
 * ```
 */
export class GuestLoadError extends EarlyExitError {
  /** Why loading failed. */
  declare readonly reason:
    | "not_found"
    | "permission"
    | "is_directory"
    | "fetch"
    | "io"
    | "limits";
  /** What to do about it. */
  declare readonly hint: string;

  /**
   * Creates the error.
   *
   * @param reason Why loading failed.
   * @param message What failed.
   * @param hint How to fix it.
   * @param options The underlying error as `cause`.
   */
  constructor(
    reason: GuestLoadError["reason"],
    message: string,
    hint: string,
    options?: ErrorOptions,
  ) {
    super("GuestLoadError", `${message}; ${hint}`, options);
    this.reason = reason;
    this.hint = hint;
  }
}

/**
 * The guest needs an import that nobody supplies, or one of the wrong kind.
 *
 * @example Usage
 * ```ts
 * import { ImportError, isImportError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const error = new ImportError("env.log", "function (i32) -> nil", "missing");
 * assert.ok(isImportError(error));
 * ```
 */
export class ImportError extends EarlyExitError {
  /** The import, as `module.name`. */
  declare readonly importName: string;
  /** What the guest expects there, e.g. `function (i32, i64) -> f64`. */
  declare readonly expected: string;

  /**
   * Creates the error.
   *
   * @param importName The import, as `module.name`.
   * @param expected What the guest expects there.
   * @param problem What is wrong with what was supplied.
   * @param hint How to fix it.
   */
  constructor(
    importName: string,
    expected: string,
    problem: string,
    hint = "supply it in the imports option",
  ) {
    super(
      "ImportError",
      // The guest chose the name and the type: either may be megabytes.
      `guest import ${oneLineText(importName)} is ${problem}: expected ${
        oneLineText(expected)
      }; ${hint}`,
    );
    this.importName = importName;
    this.expected = expected;
  }
}

/**
 * The requested export does not exist, is not a function, or was given the
 * wrong arguments.
 *
 * @example Usage
 * ```ts
 * import { ExportError, isExportError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isExportError(new ExportError("no export named run")));
 * ```
 */
export class ExportError extends EarlyExitError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, and what the guest does export.
   */
  constructor(message: string) {
    super("ExportError", message);
  }
}
