/**
 * Rewrites the module in the file named by its first argument (or loads it
 * with `loadGuest`, given its options as JSON in the second) and prints, as
 * JSON, how much the process's peak resident memory grew while it did, and
 * the error if the module was refused.
 */

import { loadGuest } from "../../mod.ts";
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
  if (Deno.args[1] === undefined) instrument(bytes, { validate: false });
  else await loadGuest(bytes, JSON.parse(Deno.args[1]));
} catch (thrown) {
  error = String(thrown);
}
console.log(JSON.stringify({ grew: kib("VmHWM") - before, error }));
