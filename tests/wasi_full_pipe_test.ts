/**
 * A WASI guest whose stdout is a pipe nobody drains: a stop still ends the
 * run, through `runWasi` (async, where each write's blocking part is Deno's
 * asynchronous write, and holding the thread, where it is the writing
 * thread's) and through `main.ts --timeout`; and through a pipe that is
 * drained, the bytes arrive as the guest wrote them, stdout and stderr in
 * order, both ways.
 */
import assert from "./support/assert.ts";
import { REPO_ROOT, spawnDeno } from "./support/cli.ts";
import {
  ORDERED_WRITES,
  PIPE_WRITER,
  recordLength,
  RECORDS,
} from "./support/full_pipe_child.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { WASI_STOP_STATUS } from "../src/cli/wasi_cli.ts";

const CHILD = new URL("./support/full_pipe_child.ts", import.meta.url);

/** The bytes of one run of the `order` guest. */
function orderedBytes(): Uint8Array {
  const lengths = Array.from({ length: RECORDS }, (_, i) => recordLength(i));
  const bytes = new Uint8Array(lengths.reduce((sum, n) => sum + n, 0));
  let at = 0;
  lengths.forEach((length, i) => {
    bytes.fill(i & 0xff, at, at + length);
    at += length;
  });
  return bytes;
}

Deno.test("runWasi: writes to a drained pipe arrive in order; a timeout, an abort and a StopSignal end a guest writing to a pipe nobody reads, async or holding the thread", () =>
  withDirectory(async (directory) => {
    const order = `${directory}/ordered.wasm`;
    const writer = `${directory}/pipe_writer.wasm`;
    const verdict = `${directory}/verdict.json`;
    await Deno.writeFile(order, await wat(ORDERED_WRITES));
    await Deno.writeFile(writer, await wat(PIPE_WRITER));
    // stderr joins stdout in one pipe, as `2>&1` does.
    const child = new Deno.Command("sh", {
      args: [
        "-c",
        'exec "$0" run --no-prompt --allow-read="$1" --allow-write="$2" "$3" "$4" "$5" "$2" 2>&1',
        Deno.execPath(),
        `${REPO_ROOT.pathname},${directory}`,
        verdict,
        CHILD.pathname,
        order,
        writer,
      ],
      stdin: "null",
      stdout: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(60_000),
    }).spawn();
    const once = orderedBytes();
    const expected = new Uint8Array(2 * once.length);
    expected.set(once);
    expected.set(once, once.length);
    // The two ordered runs' bytes, read; then the pipe is read no more
    // (the pipe writer's bytes may follow them in the last chunk).
    const got = new Uint8Array(expected.length);
    let at = 0;
    const reader = child.stdout.getReader();
    while (at < got.length) {
      const { value, done } = await reader.read();
      if (done) break;
      const part = value.subarray(0, got.length - at);
      got.set(part, at);
      at += part.length;
    }
    const { code } = await child.status;
    await reader.cancel();
    assert.equal(code, 0);
    assert.equal(at, expected.length, "bytes of the ordered runs");
    let first = 0;
    while (first < at && got[first] === expected[first]) first++;
    assert.equal(first, expected.length, `first wrong byte at ${first}`);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(verdict)), {
      outcomes: [
        "exited",
        "exited",
        "timeout",
        "timeout",
        "aborted",
        "timeout",
        "aborted",
      ],
    });
  }));

Deno.test("main.ts --timeout ends a WASI command writing to a pipe nobody reads", () =>
  withDirectory(async (directory) => {
    const guest = `${directory}/pipe_writer.wasm`;
    await Deno.writeFile(guest, await wat(PIPE_WRITER));
    const child = spawnDeno([
      "run",
      "--no-prompt",
      `--allow-read=${REPO_ROOT.pathname},${directory}`,
      new URL("main.ts", REPO_ROOT).pathname,
      "--timeout",
      "100",
      guest,
    ]);
    // Stderr's first line, before stdout is read: a run that never
    // returned would give none until then, and the guard's 60 s would end
    // the child.
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("\n")) break;
    }
    // Only now is the pipe's reader released: its reading end closes.
    await child.stdout.cancel();
    const { code } = await child.status;
    assert.match(
      text.split("\n")[0],
      /pipe_writer\.wasm: guest stopped at its deadline: 100 ms allowed/,
    );
    assert.equal(code, WASI_STOP_STATUS.timeout);
  }));
