/**
 * A WASI guest whose stdout is a pipe nobody drains: a stop still ends the
 * run (each write's blocking part is Deno's asynchronous write, off the
 * guest's thread), through `runWasi` and through `main.ts --timeout`; and
 * through a pipe that is drained, the bytes arrive as the guest wrote
 * them, stdout and stderr in order.
 */
import assert from "./support/assert.ts";
import { REPO_ROOT } from "./support/cli.ts";
import {
  ORDERED_WRITES,
  PIPE_WRITER,
  recordLength,
  RECORDS,
} from "./support/full_pipe_child.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { WASI_STOP_STATUS } from "../src/wasi_cli.ts";

const CHILD = new URL("./support/full_pipe_child.ts", import.meta.url);

/**
 * Starts `args` under Deno with stdout a pipe this never reads, and reads
 * stderr up to its first line: a run that never returned would give none
 * until the pipe is read, and the guard's 60 s would end the child.
 */
async function firstLineBeforeStdoutIsRead(
  args: string[],
): Promise<{ line: string; code: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(60_000),
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stderr) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("\n")) break;
  }
  // Only now is the pipe's reader released: its reading end closes.
  await child.stdout.cancel();
  const { code } = await child.status;
  return { line: text.split("\n")[0], code };
}

Deno.test("runWasi: a timeout, an abort and a StopSignal each end a guest writing to a pipe nobody reads", () =>
  withDirectory(async (directory) => {
    const guest = `${directory}/pipe_writer.wasm`;
    await Deno.writeFile(guest, await wat(PIPE_WRITER));
    const { line, code } = await firstLineBeforeStdoutIsRead([
      `--allow-read=${REPO_ROOT.pathname},${directory}`,
      CHILD.pathname,
      "stops",
      guest,
    ]);
    assert.deepEqual(JSON.parse(line), {
      outcomes: ["timeout", "timeout", "aborted"],
    });
    assert.equal(code, 0);
  }));

Deno.test("main.ts --timeout ends a WASI command writing to a pipe nobody reads", () =>
  withDirectory(async (directory) => {
    const guest = `${directory}/pipe_writer.wasm`;
    await Deno.writeFile(guest, await wat(PIPE_WRITER));
    const { line, code } = await firstLineBeforeStdoutIsRead([
      `--allow-read=${REPO_ROOT.pathname},${directory}`,
      new URL("main.ts", REPO_ROOT).pathname,
      "--timeout",
      "100",
      guest,
    ]);
    assert.match(
      line,
      /pipe_writer\.wasm: guest stopped at its deadline: 100 ms allowed/,
    );
    assert.equal(code, WASI_STOP_STATUS.timeout);
  }));

Deno.test("runWasi: writes to a drained pipe under a timeout arrive whole and in order, stdout and stderr together", () =>
  withDirectory(async (directory) => {
    const guest = `${directory}/ordered.wasm`;
    await Deno.writeFile(guest, await wat(ORDERED_WRITES));
    // stderr joins stdout in one pipe, as `2>&1` does.
    const { code, stdout } = await new Deno.Command("sh", {
      args: [
        "-c",
        'exec "$0" run --no-prompt --allow-read="$1" "$2" order "$3" 2>&1',
        Deno.execPath(),
        `${REPO_ROOT.pathname},${directory}`,
        CHILD.pathname,
        guest,
      ],
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(code, 0);
    let at = 0;
    for (let i = 0; i < RECORDS; i++) {
      const length = recordLength(i);
      const record = stdout.subarray(at, at + length);
      assert.ok(
        record.length === length && record.every((b) => b === (i & 0xff)),
        `record ${i} at byte ${at}`,
      );
      at += length;
    }
    assert.equal(
      new TextDecoder().decode(stdout.subarray(at)),
      '{"outcome":"exited"}\n',
    );
  }));
