/**
 * A metered or stoppable load rewrites a guest without validating it, and
 * a load with `limits` writes them in, and each compiles only the result:
 * a rewrite that turned an invalid module into a valid one would run what
 * the engine refuses, with the added items (the flag memory, the fuel
 * counter) within the guest's reach. So every module the spec suite calls
 * invalid or malformed, and V8 refuses, must come out of every rewrite
 * refused or still invalid. (A data segment in a guest without a memory
 * once came out writing the flag memory.)
 *
 * The suite is looked up as `spec_test.ts` looks it up; without it the test
 * is ignored.
 *
 * @module
 */

import assert from "./support/assert.ts";
import wabtInit from "wabt";
import { WABT_ALL_FEATURES } from "../guest/build.ts";
import { parseScript } from "./support/wast/commands.ts";
import { suiteFiles } from "./support/testsuite.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument, type InstrumentOptions } from "../src/wasm/instrument.ts";
import { applyLimits } from "../src/wasm/limits.ts";

const { files } = suiteFiles();

/**
 * The rewrites, each adding a different set of items: the flag memory, its
 * callback, the fuel counter and its import with a deferred start (a
 * deadline-only rewrite adds fewer), and a trapping meter (no import) with
 * the stack pointer's export.
 */
const REWRITES: [string, InstrumentOptions][] = [
  ["stop flag, deferred start", { stopFlag: true, deferStart: true }],
  ["trapping, stack pointer", { resumable: false, exportStackPointer: true }],
];

/** The modules the suite says the engine must refuse, as bytes. */
async function invalidModules(): Promise<[string, Uint8Array][]> {
  const wabt = await wabtInit();
  const found: [string, Uint8Array][] = [];
  for (const file of files) {
    const name = file.slice(file.lastIndexOf("/") + 1);
    for (const command of parseScript(await Deno.readTextFile(file))) {
      if (
        command.type !== "assert_invalid" &&
        command.type !== "assert_malformed"
      ) continue;
      const source = command.module.source;
      let bytes: Uint8Array;
      if (source.kind === "binary") bytes = source.bytes;
      else if (source.kind === "text") {
        // Assembled without validation: wabt writes what it can parse.
        try {
          const module = wabt.parseWat(
            "spec.wat",
            source.text,
            WABT_ALL_FEATURES,
          );
          try {
            bytes = module.toBinary({}).buffer;
          } finally {
            module.destroy();
          }
        } catch {
          continue; // text wabt cannot parse: malformed before any binary
        }
      } else continue;
      if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
        found.push([`${name}:${command.line} (${command.message})`, bytes]);
      }
    }
  }
  return found;
}

Deno.test({
  name:
    "every module the spec suite calls invalid stays refused through every rewrite and limit written in",
  ignore: files.length === 0,
  async fn() {
    const modules = await invalidModules();
    assert.ok(modules.length > 1000, `only ${modules.length} modules found`);
    const madeValid: string[] = [];
    const check = (what: string, rewrite: () => Uint8Array) => {
      let out: Uint8Array;
      try {
        out = rewrite();
      } catch (error) {
        if (!isInvalidModule(error)) madeValid.push(`${what}: threw ${error}`);
        return;
      }
      if (WebAssembly.validate(out as Uint8Array<ArrayBuffer>)) {
        madeValid.push(what);
      }
    };
    for (const [where, bytes] of modules) {
      for (const [name, options] of REWRITES) {
        check(
          `${where}, ${name}`,
          () => instrument(bytes, { ...options, validate: false }).bytes,
        );
      }
      check(
        `${where}, limits`,
        () => applyLimits(bytes, { memory: 65536, tablesTogether: 1000 }).bytes,
      );
      // The totals a load writes when no limits are given.
      check(
        `${where}, default limits`,
        () =>
          applyLimits(bytes, {
            memoriesTogether: 2 ** 32,
            tablesTogether: 1_000_000,
          }).bytes,
      );
    }
    assert.deepEqual(madeValid, []);
  },
});
