/**
 * The command line runs a WASI command with `--timeout` as a plain call
 * that holds its thread, unless `--json` must report a Ctrl-C or the guest
 * could wait for stdin, or its stdout or stderr is a pipe (as here, where
 * the test reads them; see `wasi_full_pipe_test.ts`): the deadline still
 * stops it, while it computes and while it sleeps, and Ctrl-C ends the
 * process.
 */
import assert from "./support/assert.ts";
import { WASI_STOP_STATUS } from "../src/cli/wasi_cli.ts";
import { wasiGuest } from "./support/wasi_guests.ts";
import { runMainStreaming as runMain } from "./support/cli.ts";

Deno.test("main.ts --timeout stops a computing WASI command that holds the thread", async () => {
  const run = await runMain(["--timeout", "300", wasiGuest("loop").pathname]);
  assert.equal(run.code, WASI_STOP_STATUS.timeout, run.stderr);
  assert.equal(run.stdout, "looping\n");
  assert.equal(run.stderr.trimEnd().split("\n").length, 1);
  assert.match(run.stderr, /loop\.wasm: .*300/);
});

Deno.test("main.ts --timeout ends a sleep of a WASI command that holds the thread", async () => {
  const run = await runMain([
    "--json",
    "--timeout",
    "500",
    wasiGuest("sleep").pathname,
    "--",
    "60000",
  ]);
  assert.equal(run.code, WASI_STOP_STATUS.timeout, run.stderr);
  assert.equal(JSON.parse(run.stderr).outcome, "timeout");
  const plain = await runMain([
    "--timeout",
    "500",
    wasiGuest("sleep").pathname,
    "--",
    "60000",
  ]);
  assert.equal(plain.code, WASI_STOP_STATUS.timeout, plain.stderr);
  assert.equal(plain.stdout, "sleeping\n");
});

Deno.test("main.ts --timeout: Ctrl-C ends a command that holds the thread with 130 and no report", async () => {
  const run = await runMain(
    ["--timeout", "60000", wasiGuest("sleep").pathname, "--", "60000"],
    { interruptOn: "sleeping\n" },
  );
  assert.equal(run.code, 130);
  assert.equal(run.stdout, "sleeping\n");
  assert.equal(run.stderr, "");
});

Deno.test("main.ts --timeout: a command that reads stdin runs async, so the deadline ends its wait for stdin", async () => {
  const waited = await runMain(
    ["--timeout", "500", wasiGuest("copy").pathname, "--", "-", "-"],
    { stdin: "piped" },
  );
  assert.equal(waited.code, WASI_STOP_STATUS.timeout, waited.stderr);
  assert.match(waited.stderr, /copy\.wasm: /);
});
