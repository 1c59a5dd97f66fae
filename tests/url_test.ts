import assert from "node:assert/strict";
import * as local from "../mod.ts";
import { runDeno } from "./support/cli.ts";
import { serveCheckout } from "./support/serve.ts";

Deno.test("mod.ts imported by http URL runs the guest fetched by URL", async () => {
  await using server = serveCheckout();
  const remote: typeof local = await import(new URL("mod.ts", server.url).href);
  assert.notEqual(
    remote.loadGuest,
    local.loadGuest,
    "two separate copies of the module",
  );
  const guest = await remote.loadGuest(
    new URL("guest/early_exit_guest.wasm", server.url),
  );
  const result = guest.invoke("exit_early");
  assert.equal(result.outcome, "interrupted");
});

Deno.test("the brand guards recognise an error made by another copy of mod.ts", async () => {
  await using server = serveCheckout();
  const remote: typeof local = await import(new URL("mod.ts", server.url).href);
  const fromRemote = await remote.loadGuest(
    new URL("../guest/early_exit_guest.wasm", import.meta.url),
  );
  const fromLocal = await local.loadGuest(
    new URL("guest/early_exit_guest.wasm", server.url),
  );
  let remoteError: unknown;
  try {
    fromRemote.call("exit_early");
  } catch (error) {
    remoteError = error;
  }
  assert.equal(
    remoteError instanceof local.Interrupted,
    false,
    "instanceof cannot see across copies",
  );
  assert.ok(
    local.isInterrupted(remoteError),
    "the file: copy's guard recognises the http: copy's error",
  );
  assert.ok(local.isEarlyExitError(remoteError));
  assert.equal(local.isGuestTrap(remoteError), false);
  let localError: unknown;
  try {
    fromLocal.call("exit_early");
  } catch (error) {
    localError = error;
  }
  assert.ok(remote.isInterrupted(localError), "and the other way round");
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
    ], cwd);
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
