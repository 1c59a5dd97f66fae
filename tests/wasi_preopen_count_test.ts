/**
 * How many directories a WASI run preopens. Each preopen is checked (its
 * permissions, whether it is a directory) and looked at again by
 * `node:wasi` on the calling thread before the guest runs, where no stop
 * reaches: 10,000 preopens held an abort due 10 ms into the run 0.6 s, and
 * a 50 ms timeout returned at 0.5 s. More than 32 are now refused at once in
 * one line, by `runWasi` and by the command line's `--dir`.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runWasi, type WasiPreopen } from "../mod.ts";
import { MAX_PREOPENS } from "../src/wasi_preopens.ts";
import { parseWasiFlags } from "../src/wasi_cli.ts";

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
    (error: unknown) =>
      error instanceof RangeError &&
      error.message.startsWith("--dir d32: more than 32 --dir,") &&
      !error.message.includes("\n"),
  );
});
