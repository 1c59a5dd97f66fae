import assert from "./support/assert.ts";
import * as local from "../mod.ts";
import { runDeno } from "./support/cli.ts";
import { serveCheckout } from "./support/serve.ts";

/**
 * Runs a support script in its own process (`--no-lock`, so that the
 * random port stays out of the lock file) with the checkout served over
 * http, its URL the script's argument; asserts it exits 0.
 *
 * @returns What it printed.
 */
async function runBesideServer(
  script: string,
  permissions: string[] = [],
): Promise<string> {
  await using server = serveCheckout();
  const run = await runDeno([
    "run",
    "--no-prompt",
    "--no-lock",
    "--allow-read",
    ...permissions,
    "--allow-net=127.0.0.1",
    `--allow-import=127.0.0.1:${server.port}`,
    script,
    server.url.href,
  ]);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout;
}

Deno.test("mod.ts imported by http URL runs, and brand guards work across the file: and http: copies", async () => {
  const stdout = await runBesideServer("tests/support/two_copies.ts");
  assert.equal(
    stdout,
    [
      "separate copies: true",
      "http copy, guest over http: interrupted",
      "instanceof across copies: false",
      "file guard on http error: true",
      "file guard, any kind: true",
      "file guard, wrong kind: false",
      "http guard on file error: true",
      "",
    ].join("\n"),
  );
});

Deno.test("mod.ts imported by http URL stops guests in every mode that starts code by a URL beside its own", async () => {
  const stdout = await runBesideServer("tests/support/remote_stops.ts", [
    "--allow-write",
    "--allow-run",
    "--allow-env",
  ]);
  assert.equal(
    stdout,
    [
      "plain call: timeout",
      "async call: timeout",
      "isolated call: timeout",
      'WASI command: exited "hello, remote!\\n"',
      "FuelMeter run: timeout",
      "",
    ].join("\n"),
  );
});

Deno.test("main.ts runs from an http URL and fetches the guest from beside itself", async () => {
  await using server = serveCheckout();
  const cwd = await Deno.makeTempDir();
  try {
    const run = await runDeno([
      "run",
      "--no-prompt",
      "--allow-read",
      "--allow-net=127.0.0.1",
      `--allow-import=127.0.0.1:${server.port}`,
      new URL("main.ts", server.url).href,
    ], { cwd });
    assert.equal(
      run.stdout,
      "interrupt_execution called!\n" +
        "Error from exit_early: guest interrupted by host import env.interrupt_execution\nSuccess!\n",
      run.stderr,
    );
    assert.equal(run.code, 0);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("remote guests: a wrong content type still loads; a 404 and a missing net permission say what to do", async () => {
  await using server = serveCheckout({ wasmType: "application/octet-stream" });
  const guest = await local.loadGuest(
    new URL("guest/early_exit_guest.wasm", server.url),
  );
  assert.equal(guest.invoke("exit_early").outcome, "interrupted");
  await assert.rejects(
    local.loadGuest(new URL("guest/missing.wasm", server.url)),
    (e) =>
      local.isGuestLoadError(e) && e.reason === "fetch" &&
      /HTTP 404/.test(e.message),
  );
  const run = await runDeno([
    "run",
    "--no-prompt",
    "--allow-read",
    "main.ts",
    new URL("guest/early_exit_guest.wasm", server.url).href,
  ]);
  assert.equal(run.code, 2);
  assert.match(
    run.stderr,
    new RegExp(
      `^error: .*run again with --allow-net=127\\.0\\.0\\.1:${server.port}\\n$`,
    ),
  );
});
