/**
 * A fresh process that runs the command line's `main` twice, for
 * tests/cli_readiness_test.ts: the WASI command `hello`, under fuel alone
 * or, with the argument `timeout`, with `--timeout`; without it, then the
 * bundled guest's `exit_early`. Prints, as its last line, one line of JSON: whether
 * the watchdog's thread had been started and the load's warm-up run after
 * each, and each exit status.
 */
import { main } from "../../main.ts";
import { watchdogStarted } from "../../src/watchdog.ts";
import { loadWarmUpStatus } from "../../src/load_warmup.ts";

const HELLO = new URL("../../guest/wasi/hello.wasm", import.meta.url).pathname;
const state = (status: number) => ({
  status,
  watchdog: watchdogStarted(),
  warmed: loadWarmUpStatus().runs > 0,
});
const timeout = Deno.args[0] === "timeout" ? ["--timeout", "60000"] : [];
const command = state(await main([...timeout, HELLO, "--", "x"]));
const bundled = timeout.length > 0 ? undefined : state(await main([]));
console.log(JSON.stringify({ command, bundled }));
