import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { REPO_ROOT, spawnDeno } from "./support/cli.ts";
import { withDirectory } from "./support/temp_directory.ts";

/**
 * A command that writes "y\n" to stdout until a write fails, then exits
 * with 100 plus the write's errno.
 */
const YES = `(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\10\\00\\00\\00\\02\\00\\00\\00")
  (data (i32.const 16) "y\\n")
  (func (export "_start") (local $errno i32)
    (loop $writing
      (local.set $errno (call $write (i32.const 1) (i32.const 0) (i32.const 1)
        (i32.const 100)))
      (if (local.get $errno)
        (then (call $exit (i32.add (i32.const 100) (local.get $errno)))))
      (br $writing))))`;

const EPIPE = 64;

/**
 * Reads the child's first write to stdout, then closes the pipe's reading
 * end, as `| head -c 10` does, and waits for the child to end.
 */
async function closeAfterFirstWrite(
  child: Deno.ChildProcess,
): Promise<{ status: Deno.CommandStatus; stderr: string }> {
  const reader = child.stdout.getReader();
  const first = await reader.read();
  assert.ok(!first.done);
  await reader.cancel();
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  return { status, stderr };
}

Deno.test("main.ts: a WASI command whose stdout's reader went away gets EPIPE from fd_write, and its exit code is the status", () =>
  withDirectory(async (directory) => {
    const guest = `${directory}/yes.wasm`;
    await Deno.writeFile(guest, await wat(YES));
    for (const flags of [[], ["--timeout", "60000"]]) {
      const { status, stderr } = await closeAfterFirstWrite(spawnDeno([
        "run",
        "--no-prompt",
        `--allow-read=${REPO_ROOT.pathname},${directory}`,
        new URL("main.ts", REPO_ROOT).pathname,
        ...flags,
        guest,
      ]));
      assert.equal(stderr, "", flags.join(" "));
      assert.equal(status.code, 100 + EPIPE, flags.join(" "));
    }
  }));

Deno.test("runWasi, holding the thread under a timeout: a WASI command whose stdout's reader went away gets EPIPE from fd_write (written by the writing thread)", () =>
  withDirectory(async (directory) => {
    const guest = `${directory}/yes.wasm`;
    await Deno.writeFile(guest, await wat(YES));
    const script = `
      import { runWasi } from ${
      JSON.stringify(new URL("mod.ts", REPO_ROOT).href)
    };
      const result = await runWasi(${
      JSON.stringify(guest)
    }, { timeout: 60000, async: false });
      console.error(JSON.stringify({ outcome: result.outcome, code: result.code }));`;
    const { status, stderr } = await closeAfterFirstWrite(
      spawnDeno(["eval", "--no-prompt", script]),
    );
    assert.equal(status.code, 0, stderr);
    assert.deepEqual(JSON.parse(stderr), {
      outcome: "exited",
      code: 100 + EPIPE,
    });
  }));
