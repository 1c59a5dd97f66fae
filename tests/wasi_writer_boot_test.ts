/**
 * A held WASI run's output waits in a ring for a thread that writes it; a
 * thread that does not boot within its bound must not hold the run (or,
 * after a stop, the process) until the deadline: the host writes the
 * ring's bytes itself, once each, in order.
 */
import assert from "./support/assert.ts";
import { pattern } from "./support/writer_boot_child.ts";
import { RING_BYTES } from "../src/wasi_thread_writes.ts";

const CHILD = new URL("./support/writer_boot_child.ts", import.meta.url);

async function childBytes(mode: string): Promise<Uint8Array> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", CHILD.pathname, mode],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    // Generous: the bound is 200 ms; the old wait was ten minutes.
    signal: AbortSignal.timeout(60_000),
  }).output();
  assert.equal(
    output.code,
    0,
    `exit ${output.code} (${output.signal ?? "no signal"}): ${
      new TextDecoder().decode(output.stderr)
    }`,
  );
  return output.stdout;
}

const CASES = [
  ["drain", "the run's end writes the ring's bytes itself", 1000],
  [
    "full",
    "a write that waits for room writes the ring's bytes, then its own",
    RING_BYTES - 100 + RING_BYTES / 2,
  ],
  ["settle", "a stopped run's end has the bytes written after it", 1000],
  ["late", "a thread that boots after the host wrote writes nothing", 1000],
] as const;

for (const [mode, what, length] of CASES) {
  Deno.test(`held WASI output, writing thread not booted in time: ${what}`, async () => {
    const got = await childBytes(mode);
    assert.equal(got.length, length);
    assert.deepEqual(got, pattern(0, length));
  });
}
