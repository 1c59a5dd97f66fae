/**
 * A guest loaded as it is (neither fuel nor a deadline) is compiled by the
 * engine as it is, at each function's first call, where nothing can stop
 * it: the shapes a rewrite refuses as too dear to compile are refused
 * there too, with the rewrite's one line, before the engine sees them.
 * Shapes of each kind that ended the host process or held its first call
 * for up to seconds when a plain load let them through (see each guest's
 * figures in `tests/support/hostile_guests.ts`) are loaded in a child
 * process, so that a crash fails the test rather than ending the runner.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { invokeIsolated, isInvalidModule } from "../mod.ts";
import { jsonFromChild } from "./support/json_child.ts";
import { runMain } from "./support/cli.ts";
import {
  callsOverLocals,
  fixedAllocations,
  piledResults,
  wideThrows,
} from "./support/hostile_guests.ts";
import { withDirectory } from "./support/temp_directory.ts";

const CHILD = new URL("./support/plain_load_child.ts", import.meta.url);

/** The rewrite's one-line refusal of a function's compile cost. */
const REFUSED =
  /^function 0 has a compile cost of \d+ \(.*\), over the limit of 2097152, .*: split the function, or run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline \(at byte offset \d+\)$/;

Deno.test("a plain load refuses with one line the functions a rewrite refuses as too dear to compile, which ended the host or held it for seconds; the largest accepted still loads and runs", async () => {
  await withDirectory(async (directory) => {
    const guests: [name: string, bytes: Uint8Array][] = [
      // 52 KB: V8 ran out of memory growing its code buffer, and the
      // whole process ended.
      [
        "8,000 struct.new_defaults of 10,000 fields",
        fixedAllocations(8_000, 10_000, "struct.new_default"),
      ],
      // 11 KB: its first call took 9 s of thread CPU.
      ["4,000 calls of 1,000 results piled up", piledResults(4_000, 1_000)],
      // 16 KB: its first call took 0.13 to 0.38 s.
      ["8,000 calls over 49,000 locals", callsOverLocals(8_000, 49_000)],
      // 200 KB, over the 38 a rewrite accepts (480 held a first call 88
      // to 208 ms).
      ["100 throws of 1,000 i32s", wideThrows(100, 1_000)],
      // One more than the most a rewrite accepts.
      [
        "7 struct.new_defaults of 10,000 fields",
        fixedAllocations(7, 10_000, "struct.new_default"),
      ],
    ];
    const paths: string[] = [];
    for (const [index, [, bytes]] of guests.entries()) {
      assert.ok(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>));
      paths.push(`${directory}/guest${index}.wasm`);
      await Deno.writeFile(paths.at(-1)!, bytes);
    }
    // The most a rewrite accepts loads as it is, and its call returns.
    const most = `${directory}/most.wasm`;
    await Deno.writeFile(
      most,
      fixedAllocations(6, 10_000, "struct.new_default"),
    );
    const verdicts = await jsonFromChild<
      { outcome?: string; error?: string; message?: string }[]
    >(CHILD, [`--allow-read=${directory}`], [...paths, most]);
    for (const [index, [name]] of guests.entries()) {
      const verdict = verdicts[index]!;
      assert.equal(verdict.error, "InvalidModule", name);
      assert.match(verdict.message!, REFUSED, name);
    }
    assert.deepEqual(verdicts.at(-1), { outcome: "returned" });
  });
});

Deno.test("invokeIsolated and the command line, without fuel or a deadline, refuse the guest that ended the host with the same line", async () => {
  const crasher = fixedAllocations(8_000, 10_000, "struct.new_default");
  await assert.rejects(
    () => invokeIsolated(crasher, "f"),
    (error) => isInvalidModule(error) && REFUSED.test(error.message),
  );
  await withDirectory(async (directory) => {
    const path = `${directory}/crasher.wasm`;
    await Deno.writeFile(path, crasher);
    const { code, stdout, stderr } = await runMain(
      [`--allow-read=${directory}`],
      ["--invoke", "f", path],
    );
    // Status 2: not a valid module, with one line on stderr.
    assert.equal(code, 2, stderr);
    assert.equal(stdout, "");
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /^error: function 0 has a compile cost of \d+ /);
  });
});
