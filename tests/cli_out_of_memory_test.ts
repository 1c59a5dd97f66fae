/**
 * The command line reports a guest whose GC objects would fill the host's
 * heap as `out_of_memory`, as a call from code does, and its hint names
 * what a command line can change: V8's heap size, not `limits.heap`, which
 * only code can set. The guest runs in a child process given a 32 MiB heap.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { runMain } from "./support/cli.ts";
import { encodeLeb, moduleOf, section } from "./support/module_bytes.ts";
import { withDirectory } from "./support/temp_directory.ts";

/** `run`'s body: no locals, then its code. */
// deno-fmt-ignore
const RUN = [
  0,
  0x03, 0x40, // loop
  0x23, 0, // global.get $list
  0x42, 1, // i64.const 1
  0xfb, 0, 0, // struct.new $node
  0x24, 0, // global.set $list
  0x0c, 0, // br 0
  0x0b, // end (loop)
  0x0b, // end
];

/**
 * `run` links a new struct to the last, for ever:
 * `(loop (global.set $list (struct.new $node (global.get $list) (i64.const 1))) (br 0))`.
 */
const hoarder = moduleOf(
  // Type 0, $node: (struct (field (ref null $node)) (field i64)); type 1: (func).
  section(1, [2, 0x5f, 2, 0x63, 0, 0, 0x7e, 0, 0x60, 0, 0]),
  section(3, [1, 1]),
  // $list: (mut (ref null $node)), first ref.null none.
  section(6, [1, 0x63, 0, 1, 0xd0, 0x71, 0x0b]),
  section(7, [1, 3, ...new TextEncoder().encode("run"), 0, 0]),
  section(10, [1, ...encodeLeb(RUN.length), ...RUN]),
);

Deno.test("CLI: a guest that fills the heap ends out_of_memory, with a hint the command line can follow", async () => {
  await withDirectory(async (dir) => {
    await Deno.writeFile(`${dir}/hoarder.wasm`, hoarder);
    const run = await runMain(
      ["--allow-read", "--v8-flags=--max-old-space-size=32"],
      [
        `${dir}/hoarder.wasm`,
        "--invoke",
        "run",
        "--expect",
        "out_of_memory",
        "--json",
      ],
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.outcome, "out_of_memory");
    assert.match(
      report.message,
      /past the heap limit \(\d+ MiB, three quarters of V8's heap\); raise it by running deno with --v8-flags=--max-old-space-size=MIB/,
    );
    assert.doesNotMatch(report.message, /limits\.heap/);
  });
});
