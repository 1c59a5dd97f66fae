/**
 * An isolated call whose child process crashes (Deno panics, as it may when
 * a guest has used up the child's address space or threads) fails with one
 * line that says so and quotes the panic, rather than a bare exit code and
 * a hint about permissions; the panic's report itself goes to the host's
 * stderr. The crash is the imports module's: it writes a panic's report as
 * Deno 2.9.6 does and exits with Rust's panic code, the one way to make a
 * child end so on purpose.
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";
import { withDirectory } from "./support/temp_directory.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const COMPUTE = new URL("../guest/compute.wasm", import.meta.url).href;

/** Longer than any wait here: a hang. */
const HANG_MS = 120_000;

const PANIC = [
  "",
  "=".repeat(60),
  "Deno has panicked. This is a bug in Deno. Please report this",
  "",
  "thread 'main' (4242) panicked at cli/lib.rs:701:5:",
  'failed to spawn thread: Os { code: 11, kind: WouldBlock, message: "Resource temporarily unavailable" }',
  "",
].join("\n");

Deno.test("an isolated call whose child panics fails with a line that quotes the panic", () =>
  withDirectory(async (directory) => {
    const imports = `${directory}/crash.ts`;
    await Deno.writeTextFile(
      imports,
      `Deno.stderr.writeSync(new TextEncoder().encode(${
        JSON.stringify(PANIC)
      }));\nDeno.exit(101);\n`,
    );
    const host = `${directory}/host.ts`;
    await Deno.writeTextFile(
      host,
      `import { invokeIsolated } from ${JSON.stringify(MOD)};
      try {
        await invokeIsolated(${JSON.stringify(COMPUTE)}, "sum_to", [4], {
          imports: new URL(${JSON.stringify(`file://${imports}`)}),
          timeout: 60_000,
        });
        console.log("RESULT returned");
      } catch (error) {
        console.log("RESULT " + JSON.stringify({ kind: error.kind, reason: error.reason, message: error.message }));
      }\n`,
    );
    const run = await runDeno(
      ["run", "--allow-read", "--allow-run", host],
      { signal: AbortSignal.timeout(HANG_MS) },
    );
    assert.equal(run.signal, null, `killed after ${HANG_MS} ms: it hung`);
    assert.equal(run.code, 0, run.stderr.slice(-2000));
    const at = run.stdout.lastIndexOf("RESULT ");
    assert.ok(at >= 0, run.stdout);
    const ending = JSON.parse(run.stdout.slice(at + "RESULT ".length));
    assert.equal(ending.kind, "GuestLoadError");
    assert.equal(ending.reason, "io");
    assert.match(
      ending.message,
      /^the isolated call of .*compute\.wasm failed: its child process crashed \(Deno panicked: failed to spawn thread: Os \{ code: 11, .*\}\); a guest that uses up the child's memory, address space or threads can cause it: give the guest fewer memories or less to hold, and see the report on stderr$/,
    );
    // The report itself, not a crash of memory, reaches the host's stderr.
    assert.match(run.stderr, /Deno has panicked\./);
    assert.match(run.stderr, /failed to spawn thread/);
  }));
