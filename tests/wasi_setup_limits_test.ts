/**
 * What a WASI run copies and checks before its guest runs, on the calling
 * thread, where no stop reaches: its preopens (each checked for its
 * permissions and looked at again by `node:wasi`), its arguments and its
 * environment (each checked, then copied by `node:wasi`). Unbounded, 10,000
 * preopens held an abort due 10 ms into the run 0.6 s (a 50 ms timeout
 * returned at 0.5 s), 100,000 variables 0.7 s and 1,000,000 9.5 s, and a
 * megabyte of arguments 20 to 60 ms. More than 32 preopens, more than 1,024
 * arguments and variables together, and more than 256 KiB of them are now
 * refused at once, in one line, by `runWasi` and by the command line.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runWasi, type WasiPreopen } from "../mod.ts";
import { MAX_PREOPENS } from "../src/wasi/wasi_preopens.ts";
import { parseWasiFlags } from "../src/cli/wasi_cli.ts";
import {
  MAX_COMMAND_LINE_BYTES,
  MAX_COMMAND_LINE_STRINGS,
} from "../src/wasi/wasi_option_checks.ts";
import { runMainHere } from "./support/cli.ts";

const HELLO = new URL("../guest/wasi/hello.wasm", import.meta.url);

/** `count` preopens of `directory`'s subdirectories, made here. */
async function preopensIn(
  directory: string,
  count: number,
): Promise<WasiPreopen[]> {
  const preopens: WasiPreopen[] = [];
  for (let i = 0; i < count; i++) {
    await Deno.mkdir(`${directory}/d${i}`);
    preopens.push({ host: `${directory}/d${i}`, guest: `/d${i}` });
  }
  return preopens;
}

Deno.test("runWasi refuses more than 32 preopens at once, in one line", async () => {
  assert.equal(MAX_PREOPENS, 32);
  await withDirectory(async (directory) => {
    const preopens = await preopensIn(directory, MAX_PREOPENS + 1);
    const controller = new AbortController();
    await assert.rejects(
      runWasi(HELLO, {
        preopens,
        signal: controller.signal,
        stdout: "capture",
      }),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message.startsWith(
          "runWasi's preopens name 33 directories, more than 32:",
        ) &&
        !error.message.includes("\n"),
    );
    // As many as the limit still run.
    const result = await runWasi(HELLO, {
      preopens: preopens.slice(0, MAX_PREOPENS),
      signal: controller.signal,
      stdout: "capture",
    });
    assert.equal(result.outcome, "exited");
  });
});

Deno.test("the command line refuses a 33rd --dir, in one line", () => {
  const dirs = Array.from(
    { length: MAX_PREOPENS },
    (_, i) => ["--dir", `d${i}`],
  ).flat();
  assert.equal(parseWasiFlags(dirs).preopens.length, MAX_PREOPENS);
  assert.throws(
    () => parseWasiFlags([...dirs, "--dir=d32"]),
    refusal("--dir d32: more than 32 --dir,"),
  );
});

/** Whether `error` is a one-line `RangeError` whose message starts so. */
function refusal(start: string) {
  return (error: unknown) =>
    error instanceof RangeError && error.message.startsWith(start) &&
    !error.message.includes("\n");
}

Deno.test("runWasi refuses more than 1,024 arguments and variables, and more than 256 KiB of them", async () => {
  assert.equal(MAX_COMMAND_LINE_STRINGS, 1_024);
  assert.equal(MAX_COMMAND_LINE_BYTES, 262_144);
  const args = Array.from({ length: 1_000 }, (_, i) => `${i}`);
  const env = Object.fromEntries(
    Array.from({ length: 25 }, (_, i) => [`V${i}`, "x"]),
  );
  await assert.rejects(
    runWasi(HELLO, { args, env, stdout: "capture", stderr: "capture" }),
    refusal(
      "runWasi's args and env hold 1000 arguments and 25 variables, more than 1024 together:",
    ),
  );
  // 20,000 variables are refused before they are copied.
  const many: Record<string, string> = {};
  for (let i = 0; i < 20_000; i++) many[`V${i}`] = "";
  await assert.rejects(
    runWasi(HELLO, { env: many }),
    refusal("runWasi's args and env hold 0 arguments and 20000 variables"),
  );
  // "main.wasm" and its NUL take 10 bytes; one argument fills the rest.
  const fill = MAX_COMMAND_LINE_BYTES - 10 - 1;
  await assert.rejects(
    // Two bytes a character: 10 + 2 * 131,067 + 1.
    runWasi(HELLO, { args: ["é".repeat((fill + 1) / 2)] }),
    refusal(
      "runWasi's program, args and env take 262145 bytes as the guest gets them, more than 262144 (256 KiB):",
    ),
  );
  const result = await runWasi(HELLO, {
    args: ["x".repeat(fill)],
    env: {},
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(result.outcome, "exited");
  assert.equal(result.stdout!.length, "hello, !\n".length + fill);
  const full = await runWasi(HELLO, {
    args: args.concat(Array.from({ length: 24 }, (_, i) => `x${i}`)),
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(full.outcome, "exited");
  assert.equal(new TextDecoder().decode(full.stderr!), "1024 arguments\n");
});

Deno.test("the command line refuses 1,025 arguments after --, in one line", async () => {
  const run = await runMainHere([
    "guest/wasi/hello.wasm",
    "--",
    ...Array.from({ length: 1_025 }, (_, i) => `${i}`),
  ]);
  assert.equal(run.code, 2);
  assert.equal(run.stdout, "");
  assert.match(
    run.stderr,
    /^error: the arguments after -- and --env: runWasi's args and env hold 1025 arguments and 0 variables, more than 1024 together: [^\n]*\n$/,
  );
});
