/**
 * A held WASI run's output waits in a ring for a thread that writes it; a
 * thread that does not boot within its bound must not hold the run's end
 * (or, after a stop, the process) until the deadline: the ring's bytes go
 * as asynchronous writes, once each, in order. A write that waits for room
 * still ends at its run's deadline.
 */
import assert from "./support/assert.ts";
import { pattern } from "./support/writer_boot_child.ts";
import { RING_BYTES } from "../src/wasi/wasi_thread_writes.ts";

const CHILD = new URL("./support/writer_boot_child.ts", import.meta.url);

async function childOutput(
  mode: string,
): Promise<{ stdout: Uint8Array; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", CHILD.pathname, mode],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    // Generous: the bound is 200 ms; the old wait was ten minutes.
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(
    output.code,
    0,
    `exit ${output.code} (${output.signal ?? "no signal"}): ${stderr}`,
  );
  return { stdout: output.stdout, stderr };
}

/** A record's header in the ring. */
const HEADER = 8;

const CASES = [
  ["drain", "the run's end has the ring's bytes written after it", 1000, ""],
  [
    "full",
    "a write that waits for room ends at its deadline, and what the ring holds is written after it",
    RING_BYTES - 2 * HEADER,
    "DeadlineExceeded\n",
  ],
  ["settle", "a stopped run's end has the bytes written after it", 1000, ""],
  [
    "late",
    "a thread that boots after the host gave up writes nothing",
    1000,
    "",
  ],
] as const;

for (const [mode, what, length, stderr] of CASES) {
  Deno.test(`held WASI output, writing thread not booted in time: ${what}`, async () => {
    const got = await childOutput(mode);
    assert.equal(got.stderr, stderr);
    assert.equal(got.stdout.length, length);
    assert.deepEqual(got.stdout, pattern(0, length));
  });
}
