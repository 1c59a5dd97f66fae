/**
 * What the isolated child does with its call, once its guard has read it:
 * loads the guest with the ordinary runner, calls the export, writes how it
 * ended after the host's answer tag, and exits.
 *
 * @module
 */

import { ExportError, GuestLoadError } from "../load_errors.ts";
import type { GuestOptions } from "../load/guest_options.ts";
import { checkImportsValue } from "../option_checks.ts";
import { describeThrown } from "../thrown_values.ts";
import { loadGuestWith } from "../load/load_guest.ts";
import { importFailure } from "../import_failure.ts";
import type { FunctionSignature } from "../module/signatures.ts";
import type { GuardedRequest } from "./isolate_guard.ts";
import {
  decodeValue,
  type IsolatedRequest,
  LOADED_MARK,
  toWire,
} from "./isolate_wire.ts";
import { loadStopOutcome, START_FUNCTION } from "../call/outcome.ts";
import { outlineDigest, outlineOf } from "../load/load_outline.ts";

/** Runs the call and exits the process. */
export async function runCall(guarded: GuardedRequest): Promise<never> {
  const request: IsolatedRequest = JSON.parse(guarded.header);
  let line: string;
  try {
    const changed = guarded.failure ??
      await changedOutline(guarded.module, request);
    if (changed !== undefined) {
      throw new GuestLoadError(
        "io",
        `cannot read ${request.label}: ${changed}`,
        "check the file, and that nothing writes it during the call",
      );
    }
    const imports = request.imports === undefined
      ? undefined
      : await importsOf(request.imports);
    // Any number of memories and table elements: instantiating too many ends
    // only this child. Without fuel or a deadline, the functions a rewrite
    // would refuse as too dear to compile are refused as in a plain load:
    // nothing would end the child's compile of them.
    const guest = await loadGuestWith(guarded.module, {
      imports,
      fuel: request.fuel ?? undefined,
      limits: request.limits,
      label: request.label,
    }, {
      anySize: true,
      checkBodies: request.fuel == null &&
        request.deadlineAfterMs === undefined,
      interruptFix:
        "an isolated call supplies it itself: leave it out of the imports module",
    });
    checkResults(guest.signature(request.export), request.export);
    // Written before the call, which may hold this thread for ever: a stop
    // from now on names the export, not the start function.
    writeAllSync(
      new TextEncoder().encode(`\n${request.answerTag}${LOADED_MARK}\n`),
    );
    const result = guest.invoke(
      request.export,
      request.args.map(decodeValue),
    );
    line = JSON.stringify(toWire(result));
  } catch (error) {
    // Calls report their stops as outcomes; only loading throws one, when
    // the start function is stopped.
    line = JSON.stringify(
      toWire(loadStopOutcome(START_FUNCTION, error) ?? error),
    );
  }
  const answer = new TextEncoder().encode(`${request.answerTag}${line}\n`);
  // The guest's own output may have left a line unfinished.
  await writeAll(new Uint8Array([0x0a, ...answer]));
  Deno.exit(0);
}

/**
 * Why the guest file's bytes are not the ones the host looked at, when its
 * outline's digest differs from the host's; `undefined` when they agree, or
 * when the bytes are no module (the load then says what is wrong).
 */
async function changedOutline(
  module: Uint8Array,
  request: IsolatedRequest,
): Promise<string | undefined> {
  if (request.moduleOutline === undefined) return undefined;
  let outline: Uint8Array;
  try {
    outline = outlineOf(module);
  } catch {
    return undefined;
  }
  return await outlineDigest(outline) === request.moduleOutline
    ? undefined
    : "it changed while the call loaded it (its types, imports, memories or start function are not those the host read)";
}

/**
 * The guest's imports from the imports module at `url`: its default export,
 * the imports object or a function that builds it. A module that cannot be
 * imported, throws, or gives no imports object fails the call with a
 * `GuestLoadError` that says so, not an uncaught error's stack trace.
 */
async function importsOf(url: string): Promise<GuestOptions["imports"]> {
  const fail = (what: string, hint: string): never => {
    throw new GuestLoadError(
      "io",
      `the imports module ${url} ${what}`,
      hint,
    );
  };
  let module;
  try {
    module = await import(url);
  } catch (error) {
    const { kind, why } = importFailure(error, url);
    return fail(
      `cannot be imported: ${why}`,
      kind === "json"
        ? "give a JavaScript or TypeScript module whose default export is the imports object"
        : kind === "dependency"
        ? "the module imports it: check that import, and that the child's permissions let it be read"
        : kind === "missing" || /NotCapable|access to/i.test(why)
        ? "check its path or URL, and that the child's permissions let it be read"
        : "fix the module, so that importing it does not throw",
    );
  }
  const imports = module.default;
  const fix =
    "give it a default export that is the imports object (export default { env: { ... } }) or a function that returns it";
  const check = (value: unknown, what: string) => {
    try {
      checkImportsValue(value, what);
    } catch (error) {
      fail(`has no imports: ${(error as Error).message}`, fix);
    }
  };
  if (typeof imports !== "function") {
    check(imports, "its default export");
    return imports;
  }
  return (host) => {
    let made;
    try {
      made = imports(host);
    } catch (error) {
      return fail(
        `threw from its default export, a function: ${describeThrown(error)}`,
        "fix the function, or export the imports object itself",
      );
    }
    check(made, "what its default export returned");
    return made;
  };
}

/** The result types whose values cross to the host: numbers and bigints. */
const CROSSING = new Set(["i32", "i64", "f32", "f64", "v128"]);

/**
 * Refuses an export that returns a reference (a function, a host object, a
 * GC object or its null), which cannot leave this process: the host would
 * get `undefined`. (`v128` is left to the call, which refuses it for any
 * caller.)
 */
function checkResults(
  signature: FunctionSignature | undefined,
  name: string,
): void {
  const reference = signature?.results.find((type) => !CROSSING.has(type));
  if (reference === undefined) return;
  throw new ExportError(
    `export "${name}" returns ${reference}, a reference, which cannot cross from the isolated child to this process: isolated calls return numbers and bigints; call it in process with loadGuest, or have it return a number`,
  );
}

function writeAllSync(bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length;) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}

async function writeAll(bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
}
