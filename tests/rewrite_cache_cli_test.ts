/**
 * `--cache DIR` on the command line: a WASI command and any other metered
 * guest keep their rewrite there, and a directory the process may not
 * write is refused with one line naming the flags, exit status 2.
 */
import assert from "./support/assert.ts";
import { runMain } from "./support/cli.ts";
import { withDirectory } from "./support/temp_directory.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function entries(directory: string): string[] {
  return [...Deno.readDirSync(directory)].map((e) => `${directory}/${e.name}`);
}

for (
  const [what, args] of [
    ["a WASI command", ["guest/wasi/hello.wasm", "--", "x"]],
    ["a guest", [
      "--fuel",
      "1e6",
      "--invoke",
      "fib",
      "--arg",
      "20",
      "guest/compute.wasm",
    ]],
  ] as const
) {
  Deno.test(`--cache without write permission: ${what} is not run, one line names the flags, status 2`, async () => {
    await withDirectory(async (directory) => {
      const child = await runMain([`--allow-read=${ROOT},${directory}`], [
        "--cache",
        directory,
        ...args,
      ]);
      assert.equal(child.code, 2, child.stderr);
      assert.equal(child.stdout, "");
      assert.equal(
        child.stderr,
        `error: cannot use the rewrite cache in ${directory}: write permission is missing; run again with --allow-read=${directory} --allow-write=${directory} (or leave out --cache)\n`,
      );
      assert.deepEqual(entries(directory), []);
    });
  });

  Deno.test(`--cache: ${what} run again reads the entry the first run wrote`, async () => {
    await withDirectory(async (directory) => {
      const flags = [
        `--allow-read=${ROOT},${directory}`,
        `--allow-write=${directory}`,
      ];
      const first = await runMain(flags, ["--cache", directory, ...args]);
      assert.equal(first.code, 0, first.stderr);
      const [entry] = entries(directory);
      assert.match(entry!, /[0-9a-f]{64}\.rewrite$/);
      const written = await Deno.stat(entry!);
      const second = await runMain(flags, ["--cache", directory, ...args]);
      assert.deepEqual(
        [second.code, second.stdout, second.stderr],
        [first.code, first.stdout, first.stderr],
      );
      // Read, not replaced: a miss would have renamed a new file over it.
      assert.deepEqual(entries(directory), [entry]);
      assert.equal((await Deno.stat(entry!)).ino, written.ino);
    });
  });
}
