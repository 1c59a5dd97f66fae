/**
 * An isolated call's imports module that a careless caller gets wrong: it
 * is not there, it throws as it is imported or as its function builds the
 * imports, or it gives no imports object. The call fails with one
 * `GuestLoadError` that names the module and says what to fix, rather than
 * the child's uncaught error (and its stack trace) or every import missing.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { invokeIsolated, isGuestLoadError } from "../mod.ts";
import { SEED } from "./support/guests.ts";
import { withDirectory } from "./support/temp_directory.ts";

const LOGS = await assembleWat(`(module
  (import "env" "log" (func (param i32)))
  (func (export "run") (call 0 (i32.const 1))))`);

const MODULES: [string, string | undefined, RegExp][] = [
  [
    "absent.ts",
    undefined,
    /absent\.ts cannot be imported: .*not found.*; check its path or URL/i,
  ],
  [
    "throws.ts",
    `throw new Error("not configured");\n`,
    /throws\.ts cannot be imported: Error: not configured \(at file:.*throws\.ts:1:7\); fix the module, so that importing it does not throw$/,
  ],
  [
    "lines.ts",
    `import "./gone.ts";\nexport default {};\n`,
    // The child may read the imports module alone, and the place says who
    // asked for the other one.
    /lines\.ts cannot be imported: Requires read access to ".*gone\.ts".* \(at file:.*lines\.ts:1:8\); check its path or URL, and that the child's permissions let it be read$/,
  ],
  [
    "syntax.ts",
    `export default {\n`,
    /syntax\.ts cannot be imported: SyntaxError: Unexpected token .* \(at file:.*syntax\.ts:1:17\); fix the module/,
  ],
  [
    "values.json",
    `{ "env": {} }\n`,
    /values\.json cannot be imported: it is JSON, which holds no functions; give a JavaScript or TypeScript module/,
  ],
  [
    "builder_throws.ts",
    `export default () => { throw new Error("no env"); };\n`,
    /builder_throws\.ts threw from its default export, a function: Error: no env; fix the function/,
  ],
  [
    "number.ts",
    `export default () => 5;\n`,
    /number\.ts has no imports: what its default export returned must be an object of import modules.*; got number 5; give it a default export/,
  ],
  [
    "no_default.ts",
    `export const env = {};\n`,
    /no_default\.ts has no imports: its default export must be an object of import modules.*; got undefined; give it a default export/,
  ],
];

Deno.test("an isolated call's broken imports module fails with a GuestLoadError that names it and says what to fix", () =>
  withDirectory(async (directory) => {
    for (const [name, source, expected] of MODULES) {
      const path = `${directory}/${name}`;
      if (source !== undefined) await Deno.writeTextFile(path, source);
      await assert.rejects(
        () =>
          invokeIsolated(LOGS, "run", [], {
            imports: new URL(`file://${path}`),
            timeout: 30_000,
          }),
        (error: Error) => {
          assert.ok(isGuestLoadError(error), `${name}: ${error}`);
          assert.match(error.message, expected, `${name}: ${error.message}`);
          assert.doesNotMatch(error.message, /Uncaught|\n/, name);
          return true;
        },
      );
    }
  }));

Deno.test("an isolated call's imports module that supplies the interrupt import is refused with a TypeError that says to leave it out", () =>
  withDirectory(async (directory) => {
    const path = `${directory}/interrupt.ts`;
    await Deno.writeTextFile(
      path,
      `export default { env: { interrupt_execution() {} } };\n`,
    );
    await assert.rejects(
      () =>
        invokeIsolated(SEED, "exit_early", [], {
          imports: new URL(`file://${path}`),
          timeout: 30_000,
        }),
      (error: Error) => {
        // A caller's mistake keeps its type across the process boundary.
        assert.ok(error instanceof TypeError, String(error));
        assert.match(
          error.message,
          /^the imports supply env\.interrupt_execution, which is the runner's interrupt import: an isolated call supplies it itself: leave it out of the imports module$/,
        );
        return true;
      },
    );
  }));
