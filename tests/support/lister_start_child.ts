/**
 * A fresh process that runs `hello` with a preopen, for
 * tests/wasi_lister_start_test.ts: first under fuel alone (no stop can end
 * it), then, with the argument `timeout`, under a deadline. Prints one line
 * of JSON: whether runWasi's listing thread had been asked for after each
 * run, and how each ended.
 */
import { runWasi } from "../../mod.ts";
import { listerStarted } from "../../src/wasi/wasi_lister.ts";
import { wasiGuest } from "./wasi_guests.ts";

const host = Deno.makeTempDirSync();
const run = async (timeout?: number) => {
  const result = await runWasi(wasiGuest("hello"), {
    args: ["child"],
    fuel: 1e9,
    timeout,
    stdout: "capture",
    stderr: "capture",
    preopens: [{ host, guest: "/data" }],
  });
  return { outcome: result.outcome, lister: listerStarted() };
};
try {
  const fuelOnly = await run();
  const deadline = Deno.args[0] === "timeout" ? await run(60_000) : undefined;
  console.log(JSON.stringify({ fuelOnly, deadline }));
} finally {
  Deno.removeSync(host, { recursive: true });
}
