/**
 * `fd_readdir` lists a directory from a listing read once per pass and kept
 * between calls: every entry once, however small the buffer, even while
 * the guest removes what it has read; and a stop lands during a large
 * listing.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { listingGuest } from "./support/wasi_listing_guest.ts";
import { runWasi, StopSignal } from "../mod.ts";

/**
 * Makes `count` names of one empty file, and returns them. Links rather
 * than files: a listing shows names and types alike (its `d_ino` is 0),
 * and a new file's inode took the system about 30 times a link's time
 * (more than half a millisecond on a busy disk, seconds for 20,000).
 */
function makeFiles(directory: string, count: number): string[] {
  const names = Array.from(
    { length: count },
    (_, i) => `${i % 7 === 0 ? "é-" : ""}entry-${String(i).padStart(6, "0")}`,
  );
  const [first, ...rest] = names.map((name) => `${directory}/${name}`);
  if (first === undefined) return names;
  Deno.writeFileSync(first, new Uint8Array());
  for (const path of rest) Deno.linkSync(first, path);
  return names;
}

Deno.test("a listing of 10,000 entries in a small buffer gives every name once, in plain and async runs", () =>
  withDirectory(async (directory) => {
    const names = makeFiles(directory, 10_000);
    const guest = await listingGuest({ buffer: 4096, print: true, per: 100 });
    for (const async of [false, true]) {
      const result = await runWasi(guest, {
        preopens: [{ host: directory, guest: "/d" }],
        stdout: "capture",
        outputLimit: Infinity,
        async,
      });
      assert.equal(result.outcome, "exited", `async: ${async}`);
      assert.equal(result.outcome === "exited" && result.code, 100);
      const listed = new TextDecoder().decode(result.stdout).split("\n");
      assert.equal(listed.pop(), "");
      assert.deepEqual(listed.sort(), [...names].sort(), `async: ${async}`);
    }
  }));

Deno.test("a guest that removes each file as it lists it reaches every file, in plain and async runs", () =>
  withDirectory(async (directory) => {
    // node:wasi read the directory again at each call and counted the
    // cookie from its first entry: with the entries already removed gone
    // from the count, it skipped as many, and left them behind.
    for (const async of [false, true]) {
      makeFiles(directory, 2_000);
      const guest = await listingGuest({ buffer: 1024, unlink: true, per: 20 });
      const result = await runWasi(guest, {
        preopens: [{ host: directory, guest: "/d" }],
        async,
      });
      assert.equal(result.outcome, "exited", `async: ${async}`);
      assert.equal(result.outcome === "exited" && result.code, 100);
      assert.deepEqual([...Deno.readDirSync(directory)], []);
    }
  }));

Deno.test("a deadline and a StopSignal stop a guest listing a large directory in a large buffer", () =>
  withDirectory(async (directory) => {
    makeFiles(directory, 20_000);
    // Every call reads the whole directory again, into a 64 MiB buffer.
    const guest = await listingGuest({ buffer: 64 << 20, forever: true });
    const preopens = [{ host: directory, guest: "/d" }];
    for (const async of [false, true]) {
      const started = performance.now();
      const result = await runWasi(guest, { preopens, async, timeout: 200 });
      assert.equal(result.outcome, "timeout", `async: ${async}`);
      // Generous: the run, compiling included, ends within seconds.
      assert.ok(performance.now() - started < 10_000);
    }
    for (const async of [false, true]) {
      const stop = new StopSignal();
      const timer = setTimeout(() => stop.stop("enough"), 200);
      // A plain call holds this thread: another thread would stop it. The
      // deadline does here, as a backstop, should the timer not fire.
      const result = await runWasi(guest, {
        preopens,
        async,
        stop,
        ...(async ? {} : { timeout: 300 }),
      });
      clearTimeout(timer);
      assert.ok(
        async ? result.outcome === "aborted" : result.outcome === "timeout",
        `async: ${async}: ${result.outcome}`,
      );
    }
  }));

Deno.test("a listing from cookie 0 reads the directory afresh, and sees a file made since", () =>
  withDirectory(async (directory) => {
    makeFiles(directory, 3);
    const W = "wasi_snapshot_preview1";
    const guest = await wat(`(module
      (import "${W}" "fd_readdir" (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
      (import "${W}" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "${W}" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "new")
      (func (export "_start") (local $before i32)
        (drop (call $readdir (i32.const 3) (i32.const 1024) (i32.const 4096) (i64.const 0) (i32.const 16)))
        (local.set $before (i32.load (i32.const 16)))
        ;; O_CREAT
        (drop (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 3) (i32.const 1)
          (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 20)))
        (drop (call $readdir (i32.const 3) (i32.const 1024) (i32.const 4096) (i64.const 0) (i32.const 16)))
        (call $exit (i32.sub (i32.load (i32.const 16)) (local.get $before)))))`);
    for (const async of [false, true]) {
      await Deno.remove(`${directory}/new`).catch(() => {});
      const result = await runWasi(guest, {
        preopens: [{ host: directory, guest: "/d" }],
        async,
      });
      // One more entry: a header and "new".
      assert.equal(result.outcome === "exited" && result.code, 24 + 3);
    }
  }));
