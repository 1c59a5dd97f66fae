/**
 * The package's version, which `main.ts --version` prints. `deno.json`
 * holds it too; a test keeps the two the same.
 *
 * @module
 */

/**
 * early-exit's version.
 *
 * @example Usage
 * ```ts
 * import { VERSION } from "./version.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION = "0.1.0";
