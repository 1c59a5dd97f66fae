/**
 * The walk that resolves a guest's paths part by part, to charge the
 * targets of the links among its directories, gives the system's answer
 * for every path: the same real path, or a failure where the system's
 * `realpath` fails (of the same kind: refused by permissions or not). And
 * it is told each target it follows, as many times as it follows it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { MAX_LINKS, realPathPaid } from "../src/wasi/wasi_real_path.ts";

/** What resolving `path` gives: a real path, or the kind of failure. */
function outcome(resolve: () => string): string {
  try {
    return resolve();
  } catch (error) {
    return error instanceof Deno.errors.NotCapable
      ? "refused by permissions"
      : "does not resolve";
  }
}

/**
 * A tree of directories, files and links, some leading out and back, some
 * in loops, chains and through files.
 */
async function tree(directory: string): Promise<string> {
  const root = `${directory}/pre`;
  await Deno.mkdir(`${root}/a/b/c`, { recursive: true });
  await Deno.mkdir(`${directory}/out/x`, { recursive: true });
  await Deno.writeTextFile(`${root}/a/file`, "");
  await Deno.writeTextFile(`${directory}/out/x/file`, "");
  const links: [string, string][] = [
    ["up", ".."],
    ["dot", "."],
    ["toB", "a/b"],
    ["toBSlash", "a/b/"],
    ["toC", "toB/c"],
    ["viaUp", "a/b/c/../../b/./c"],
    ["outRel", "../out"],
    ["outAbs", `${directory}/out/x`],
    ["backAbs", `${root}/a`],
    ["outAndBack", "../out/../pre/a"],
    ["toFile", "a/file"],
    ["toFileSlash", "a/file/"],
    ["dangling", "nothing/here"],
    ["loopA", "loopB"],
    ["loopB", "loopA"],
    ["slashes", `.${"/".repeat(300)}a`],
    ["a/b/c/upTwo", "../.."],
    ["a/b/c/upThree", "../../../a/b"],
  ];
  for (let i = 0; i < MAX_LINKS + 1; i++) {
    links.push([`chain${i}`, i === MAX_LINKS ? "a" : `chain${i + 1}`]);
  }
  for (const [name, target] of links) {
    await Deno.symlink(target, `${root}/${name}`);
  }
  return root;
}

Deno.test("a walked path resolves as the system resolves it, or fails where it fails", async () => {
  await withDirectory(async (directory) => {
    const root = await tree(directory);
    const real = Deno.realPathSync(root);
    const paths = [
      "",
      "a",
      "a/b/c",
      "a/./b//c/",
      "a/b/c/../../..",
      "a/b/c/../../../..",
      "up",
      "up/pre/a",
      "dot/dot/dot/a",
      "toB",
      "toB/c",
      "toB/../file",
      "toBSlash/c",
      "toC/..",
      "viaUp",
      "viaUp/../../file",
      "outRel",
      "outRel/x/file",
      "outAbs/file",
      "outAbs/..",
      "backAbs/b",
      "outAndBack/b",
      "toFile",
      "toFile/",
      "toFile/.",
      "toFile/..",
      "toFileSlash",
      "a/file/x",
      "dangling",
      "nothing",
      "loopA",
      "loopA/x",
      "slashes/b",
      "a/b/c/upTwo/b",
      "a/b/c/upThree/c",
      // 40 links, then 41.
      "chain1/b",
      "chain0/b",
      "chain1/../chain2",
    ];
    for (const path of paths) {
      const full = path === "" ? root : `${root}/${path}`;
      const system = outcome(() => Deno.realPathSync(full));
      const walked = outcome(() =>
        realPathPaid(full, [root, real], real, () => {})
      );
      assert.equal(walked, system, `resolving ${path}`);
    }
  });
});

Deno.test("a walk is told each link target it follows, each time it follows it, and not the preopen's own links", async () => {
  await withDirectory(async (directory) => {
    await Deno.mkdir(`${directory}/real/d`, { recursive: true });
    // The preopen is named through a link of the host's.
    await Deno.symlink(`${directory}/real`, `${directory}/named`);
    const root = `${directory}/named`;
    const real = Deno.realPathSync(root);
    await Deno.symlink("d", `${real}/l`);
    await Deno.symlink("./l/../l", `${real}/m`);
    await Deno.symlink(".", `${real}/n`);
    const followed: number[] = [];
    const resolved = realPathPaid(
      `${root}/n/m`,
      [root, real],
      real,
      (bytes) => followed.push(bytes),
    );
    assert.equal(resolved, `${real}/d`);
    // n; then m, and l twice through it (a target's `..` is the
    // system's to take, whatever Deno's permissions).
    assert.deepEqual(followed, [1, 8, 1, 1]);
  });
});
