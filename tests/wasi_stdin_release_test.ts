/**
 * A run that reads this process's stdin lets go of it when it ends: a read
 * left pending by a stopped run kept the process alive until a byte or the
 * end of stdin came (at a terminal, until the user typed something).
 *
 * @module
 */

import assert from "./support/assert.ts";

const CHILD = new URL("./support/wasi_stdin_child.ts", import.meta.url);

/** How long the child may take: only a process kept alive gets near it. */
const GUARD_MS = 20_000;

async function runChild(
  feed: (stdin: WritableStreamDefaultWriter<Uint8Array>) => Promise<void>,
  timeout = 200,
): Promise<{ code: number; stdout: string; took: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", CHILD.pathname, String(timeout)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const guard = setTimeout(() => child.kill("SIGKILL"), GUARD_MS);
  const started = performance.now();
  try {
    await feed(writer);
    const { code, stdout } = await child.output();
    return {
      code,
      stdout: new TextDecoder().decode(stdout).trim(),
      took: performance.now() - started,
    };
  } finally {
    clearTimeout(guard);
    await writer.close().catch(() => {});
  }
}

Deno.test("runWasi: a run stopped while it reads this process's stdin does not keep the process alive", async () => {
  // stdin stays open, and nothing is written to it.
  const { code, stdout, took } = await runChild(() => Promise.resolve());
  assert.equal(stdout, "timeout");
  assert.equal(code, 0);
  assert.ok(took < GUARD_MS / 2, `the process lived ${took.toFixed(0)} ms`);
});

Deno.test("runWasi: a run stopped while input keeps coming on stdin, never closed, does not keep the process alive", async () => {
  // The read left pending once a chunk had come held the process; a stop
  // a few milliseconds into the run, as the first reads wait, found it.
  for (const timeout of [5, 10, 20, 50]) {
    let writing = true;
    const { code, stdout, took } = await runChild(async (writer) => {
      const line = new TextEncoder().encode("more input\n");
      for (let i = 0; writing && i < 100; i++) {
        await writer.write(line).catch(() => (writing = false));
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    }, timeout);
    writing = false;
    assert.equal(stdout.split(" ")[0], "timeout", `timeout ${timeout}`);
    assert.equal(code, 0);
    assert.ok(
      took < GUARD_MS / 2,
      `timeout ${timeout}: the process lived ${took.toFixed(0)} ms`,
    );
  }
});

Deno.test("runWasi: stdin read to its end still reaches the guest", async () => {
  const { stdout } = await runChild(async (writer) => {
    await writer.write(new TextEncoder().encode("some input\n"));
    await writer.close();
  });
  assert.equal(stdout, "exited some input");
});
