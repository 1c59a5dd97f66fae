/**
 * `fd_readdir` lists a directory from a listing read once per pass and kept
 * between calls: every entry once, however small the buffer, even while
 * the guest removes what it has read; and a stop lands during a large
 * listing.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { listingGuest } from "./support/wasi_listing_guest.ts";
import { runWasi, StopSignal } from "../mod.ts";

/** Makes `count` empty files, and returns their names. */
function makeFiles(directory: string, count: number): string[] {
  const names = Array.from(
    { length: count },
    (_, i) => `${i % 7 === 0 ? "é-" : ""}entry-${String(i).padStart(6, "0")}`,
  );
  for (const name of names) {
    Deno.writeFileSync(`${directory}/${name}`, new Uint8Array());
  }
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
