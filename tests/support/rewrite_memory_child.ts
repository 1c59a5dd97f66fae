/**
 * Rewrites the module in the file named by its argument and prints, as
 * JSON, how much the process's peak resident memory grew while it did, and
 * the error if the rewriter refused the module.
 */

import { instrument } from "../../src/wasm/instrument.ts";

const kib = (field: string) =>
  Number(
    new RegExp(`${field}:\\s+(\\d+)`).exec(
      Deno.readTextFileSync("/proc/self/status"),
    )![1],
  ) * 1024;

const bytes = Deno.readFileSync(Deno.args[0]!);
const before = kib("VmRSS");
let error = "";
try {
  instrument(bytes, { validate: false });
} catch (thrown) {
  error = String(thrown);
}
console.log(JSON.stringify({ grew: kib("VmHWM") - before, error }));
