import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { withoutSeparatorsAtEnd } from "../src/wasi/wasi_files.ts";
import { reportErrnoWat, sandboxErrnos } from "./support/wasi_guests.ts";

const LOOKUP_FOLLOW = 1;
const O_CREAT = 1;
const O_TRUNC = 8;

/** What the guest does, in order. */
type Step =
  | { symlink: string; at: string }
  | { open: string; follow: boolean; oflags: number };

/**
 * A command that makes symbolic links and opens paths in its first
 * preopen, writing "guest" to each file it opens, and prints the errno of
 * every call on stdout, separated by spaces (an open that fails leaves no
 * descriptor, so the write after it gets BADF).
 */
async function linker(steps: Step[]): Promise<Uint8Array> {
  let at = 1024;
  const data: string[] = [];
  const string = (s: string) => {
    const bytes = new TextEncoder().encode(s);
    const hex = [...bytes].map((b) => `\\${b.toString(16).padStart(2, "0")}`);
    data.push(`(data (i32.const ${at}) "${hex.join("")}")`);
    const operands = `(i32.const ${at}) (i32.const ${bytes.length})`;
    at += bytes.length + 8;
    return operands;
  };
  const body = steps.map((step) =>
    "symlink" in step
      ? `(call $report (call $symlink ${string(step.symlink)} (i32.const 3) ${
        string(step.at)
      }))`
      : `(i32.store (i32.const 16) (i32.const -1))
        (call $report (call $open (i32.const 3) (i32.const ${
        step.follow ? LOOKUP_FOLLOW : 0
      }) ${string(step.open)} (i32.const ${step.oflags})
          (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 16)))
        (call $report (call $write (i32.load (i32.const 16)) (i32.const 0)
          (i32.const 1) (i32.const 20)))`
  ).join("\n");
  return await wat(`(module
    (import "wasi_snapshot_preview1" "path_symlink"
      (func $symlink (param i32 i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "path_open"
      (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write"
      (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 8)
    ;; The iovec at 0 holds "guest"; the one at 8 the errno's digits.
    (data (i32.const 0) "\\00\\02\\00\\00\\05\\00\\00\\00")
    (data (i32.const 512) "guest")
    ${data.join("\n")}
    ${reportErrnoWat("write")}
    (func (export "_start") ${body}))`);
}

/** Runs the steps in `directory/inside`, and returns the errnos. */
async function run(directory: string, steps: Step[]): Promise<string[]> {
  await Deno.mkdir(`${directory}/inside/sub`, { recursive: true });
  return await sandboxErrnos(await linker(steps), directory);
}

const NOTCAPABLE = "76";
const LOOP = "32";
const BADF = "08";

Deno.test("a symbolic link the guest makes to a file outside its preopen does not let it create that file", () =>
  withDirectory(async (directory) => {
    const outside = `${directory}/outside.txt`;
    const errnos = await run(directory, [
      { symlink: outside, at: "link" },
      { symlink: "link", at: "chain" },
      { symlink: "../../outside.txt", at: "sub/up" },
      { open: "link", follow: true, oflags: O_CREAT },
      { open: "link", follow: false, oflags: O_CREAT },
      { open: "chain", follow: true, oflags: O_CREAT | O_TRUNC },
      { open: "sub/../link", follow: true, oflags: O_CREAT },
      { open: "sub/up", follow: true, oflags: O_CREAT },
    ]);
    assert.deepEqual(errnos, [
      "00",
      "00",
      "00",
      NOTCAPABLE,
      BADF,
      LOOP,
      BADF,
      NOTCAPABLE,
      BADF,
      NOTCAPABLE,
      BADF,
      NOTCAPABLE,
      BADF,
    ]);
    await assert.rejects(() => Deno.lstat(outside), Deno.errors.NotFound);
  }));

Deno.test("a symbolic link the guest makes to a file outside its preopen does not let it write that file", () =>
  withDirectory(async (directory) => {
    const outside = `${directory}/outside.txt`;
    await Deno.writeTextFile(outside, "host");
    const errnos = await run(directory, [
      { symlink: outside, at: "link" },
      { symlink: "link", at: "chain" },
      { open: "link", follow: false, oflags: 0 },
      { open: "link", follow: false, oflags: O_TRUNC },
      { open: "chain", follow: false, oflags: 0 },
      { open: "sub/../link", follow: false, oflags: 0 },
      { open: "link", follow: true, oflags: 0 },
    ]);
    assert.deepEqual(errnos, [
      "00",
      "00",
      LOOP,
      BADF,
      LOOP,
      BADF,
      LOOP,
      BADF,
      LOOP,
      BADF,
      NOTCAPABLE,
      BADF,
    ]);
    assert.equal(await Deno.readTextFile(outside), "host");
  }));

Deno.test("symbolic links that stay inside the preopen still open, and create what they name", () =>
  withDirectory(async (directory) => {
    const inside = `${directory}/inside`;
    const errnos = await run(directory, [
      { symlink: "new.txt", at: "to-new" },
      { symlink: "../to-new", at: "sub/up" },
      { open: "sub/up", follow: true, oflags: O_CREAT },
      { open: "to-new", follow: true, oflags: 0 },
    ]);
    assert.deepEqual(errnos, ["00", "00", "00", "00", "00", "00"]);
    assert.equal(await Deno.readTextFile(`${inside}/new.txt`), "guest");
  }));

Deno.test("a chain of 40 links whose targets hold long runs of slashes opens, and a 41st is a loop", () =>
  withDirectory(async (directory) => {
    // Each target's 3,900 slashes cost the trim 30 ms when it was a regular
    // expression: the chain held one open 1.5 s.
    const slashes = "/".repeat(3_900);
    const chain = (links: number): Step[] =>
      Array.from({ length: links }, (_, i) => ({
        symlink: `./${slashes}${
          i === links - 1 ? "end.txt" : `c${links}_${i + 1}`
        }`,
        at: `c${links}_${i}`,
      }));
    const errnos = await run(directory, [
      ...chain(40),
      ...chain(41),
      { open: "c40_0", follow: true, oflags: O_CREAT },
      { open: "c41_0", follow: true, oflags: O_CREAT },
    ]);
    assert.deepEqual(errnos, [
      ...Array(81).fill("00"),
      "00",
      "00",
      LOOP,
      BADF,
    ]);
    assert.equal(
      await Deno.readTextFile(`${directory}/inside/end.txt`),
      "guest",
    );
  }));

/**
 * A string whose reads are counted: each character read by index, and each
 * method looked up (run on the string itself).
 */
function countedString(text: string) {
  const reads = { characters: 0, methods: [] as string[] };
  const path = new Proxy(new String(text), {
    get(target, key) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads.characters++;
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      reads.methods.push(String(key));
      return value.bind(target);
    },
  }) as unknown as string;
  return { path, reads };
}

Deno.test("trimming a path's separators at its end reads only that run and the character before it", () => {
  // A run of slashes that does not end the path: the regular expression
  // /\/+$/ tried each slash of it as a start, each time reading the rest of
  // the run (20,000 slashes: 200,000,000 reads), before the one answer.
  const long = "/".repeat(20_000);
  for (
    const [text, trimmed, atEnd] of [
      [`${long}x`, `${long}x`, 0],
      [`${long}x/`, `${long}x`, 1],
      [`${long}x${"/".repeat(5_000)}`, `${long}x`, 5_000],
      [`a${long}`, "a", 20_000],
      [long, "", 20_000],
    ] as const
  ) {
    const { path, reads } = countedString(text);
    const result = withoutSeparatorsAtEnd(path);
    const methods = [...reads.methods];
    assert.equal(String(result), trimmed);
    // The run at the end, and the one character that ends it.
    assert.equal(
      reads.characters,
      atEnd + (atEnd === text.length ? 0 : 1),
      `${text.length} characters, ${atEnd} at the end`,
    );
    // No whole-string search (a replace, a match, a search) ran.
    assert.ok(
      methods.every((name) => name === "slice"),
      methods.join(", "),
    );
  }
});
