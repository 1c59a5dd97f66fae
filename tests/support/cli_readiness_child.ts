/**
 * A fresh process that runs the command line's `main`, for
 * tests/cli_readiness_test.ts. Without arguments: the WASI command `copy`
 * under fuel alone, over a larger file it must truncate (work the listing
 * thread does for a run a stop can end), then the bundled guest's
 * `exit_early`; with `timeout`: the WASI command `hello` with `--timeout`.
 * Prints, as its last line, one line of JSON: the exit status of each run,
 * whether the watchdog's thread and the listing thread had been started
 * and the load's warm-up run after it, and whether the copy's output is its
 * input.
 */
import { main } from "../../main.ts";
import { watchdogStarted } from "../../src/watchdog/watchdog.ts";
import { loadWarmUpStatus } from "../../src/warmup/load_warmup.ts";
import { listerStarted } from "../../src/wasi/wasi_lister.ts";

const guest = (name: string) =>
  new URL(`../../guest/wasi/${name}.wasm`, import.meta.url).pathname;
const state = (status: number) => ({
  status,
  watchdog: watchdogStarted(),
  lister: listerStarted(),
  warmed: loadWarmUpStatus().runs > 0,
});
if (Deno.args[0] === "timeout") {
  const command = state(
    await main(["--timeout", "60000", guest("hello"), "--", "x"]),
  );
  console.log(JSON.stringify({ command }));
} else {
  const host = Deno.makeTempDirSync();
  try {
    const input = new TextEncoder().encode("copied over a longer file\n");
    Deno.writeFileSync(`${host}/in`, input);
    Deno.writeFileSync(`${host}/out`, new Uint8Array(1 << 16).fill(0x78));
    const command = state(
      await main([
        "--dir",
        `${host}::/d`,
        guest("copy"),
        "--",
        "/d/in",
        "/d/out",
      ]),
    );
    const output = Deno.readFileSync(`${host}/out`);
    const copied = output.length === input.length &&
      output.every((byte, i) => byte === input[i]);
    const bundled = state(await main([]));
    console.log(JSON.stringify({ command: { ...command, copied }, bundled }));
  } finally {
    Deno.removeSync(host, { recursive: true });
  }
}
