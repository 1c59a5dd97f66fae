/**
 * The command line's `--timeout` is the whole run's deadline: the guest's
 * read, the `--imports` module's load and the rewrite are inside it, not
 * only the call. Each hostile input here once ran past it for as long as
 * it liked (a large guest's rewrite), for ever (a FIFO no one writes to
 * ended only with a load error; an imports module that never finished
 * loading ended the process with Deno's own complaint).
 */

import assert from "./support/assert.ts";
import {
  concatBytes,
  encodeLeb,
  moduleOf,
  section,
} from "./support/module_bytes.ts";
import { runGuarded } from "./support/guarded.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { withGuestFifo } from "./support/fifo.ts";

/**
 * How many small functions the large guest has: within the instantiation
 * work a guest may have (about 100,000 functions), so that only the
 * deadline can end its load. At 150,000 a load that reached that check
 * before the deadline, on a quick machine, was refused there instead.
 */
const FUNCTIONS = 90_000;

/** How many `i32.const 1 drop`s each small function holds. */
const PAIRS = 80;

/**
 * A guest of about 22 MB, written by hand (an assembler takes seconds over
 * it): {@linkcode FUNCTIONS} functions of {@linkcode PAIRS}
 * `i32.const 1 drop`s, which the rewrite must get through before the guest
 * can run, and `spin`, a loop for ever.
 */
function largeGuest(): Uint8Array {
  const body = [0x00, ...Array(PAIRS).fill([0x41, 0x01, 0x1a]).flat(), 0x0b];
  const sized = new Uint8Array([...encodeLeb(body.length), ...body]);
  const spin = [0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b];
  const count = encodeLeb(FUNCTIONS + 1);
  const bodies = new Uint8Array(sized.length * FUNCTIONS);
  for (let i = 0; i < FUNCTIONS; i++) bodies.set(sized, i * sized.length);
  const codeSize = count.length + bodies.length + 1 + spin.length;
  const functionSection = new Uint8Array([
    ...encodeLeb(FUNCTIONS + 1),
    ...Array(FUNCTIONS + 1).fill(0),
  ]);
  return concatBytes(
    moduleOf(
      section(1, [0x01, 0x60, 0x00, 0x00]),
    ),
    [0x03, ...encodeLeb(functionSection.length)],
    functionSection,
    section(7, [
      0x01,
      0x04,
      ...new TextEncoder().encode("spin"),
      0x00,
      ...encodeLeb(FUNCTIONS),
    ]),
    [0x0a, ...encodeLeb(codeSize), ...count],
    bodies,
    [spin.length, ...spin],
  );
}

/** Runs main.ts with `--json`, read permission for `directory`. */
async function runMain(directory: string, args: string[]) {
  const run = await runGuarded([
    "run",
    "--no-prompt",
    `--allow-read=.,${directory}`,
    `--allow-write=${directory}`,
    "main.ts",
    "--json",
    ...args,
  ]);
  const lines = run.stdout.trim().split("\n");
  return { ...run, report: JSON.parse(lines[lines.length - 1]) };
}

Deno.test("main.ts --timeout: a large guest's rewrite ends at the deadline, before it could reach the cache", () =>
  withDirectory(async (directory) => {
    const guest = `${directory}/large.wasm`;
    const cache = `${directory}/cache`;
    await Deno.mkdir(cache);
    await Deno.writeFile(guest, largeGuest());
    const run = await runMain(directory, [
      guest,
      "--invoke=spin",
      "--timeout=100",
      "--expect=timeout",
      `--cache=${cache}`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.report.outcome, "timeout");
    assert.equal(run.report.export, "spin");
    // Before the guest ran: in its read or its rewrite.
    assert.match(
      run.report.message,
      /^guest stopped at its deadline: 100 ms allowed, stopped after [\d.]+ ms, while (reading|loading) the guest$/,
    );
    // A rewrite that had finished would be in the cache, as it is once
    // the run has the time.
    assert.deepEqual(await Array.fromAsync(Deno.readDir(cache)), []);
  }));

Deno.test("main.ts --timeout: an --imports module that never finishes loading ends the run at the deadline", () =>
  withDirectory(async (directory) => {
    const imports = `${directory}/imports.ts`;
    // Its top level waits for ever, with a timer that keeps the event
    // loop busy meanwhile.
    await Deno.writeFile(
      imports,
      new TextEncoder().encode(
        "setInterval(() => {}, 1);\nawait new Promise(() => {});\nexport default {};\n",
      ),
    );
    const run = await runMain(directory, [
      "guest/runaway.wasm",
      "--invoke=spin",
      "--timeout=100",
      `--imports=${imports}`,
    ]);
    // Reported by the run itself (status 1), or, should its timer come
    // past the backstop's grace on a busy machine, by the backstop.
    assert.ok(run.code === 1 || run.signal === "SIGKILL", run.stderr);
    assert.equal(run.report.outcome, "timeout");
    assert.equal(run.report.export, "spin");
    assert.match(
      run.report.message,
      /, while loading the --imports module( \(.*\))?$/,
    );
  }));

Deno.test("main.ts --timeout: an --imports module whose own code loops for ever is reported at the deadline, and the process killed", () =>
  withDirectory(async (directory) => {
    const imports = `${directory}/imports.ts`;
    await Deno.writeFile(
      imports,
      new TextEncoder().encode("while (true) {}\nexport default {};\n"),
    );
    const run = await runMain(directory, [
      "guest/runaway.wasm",
      "--invoke=spin",
      "--timeout=100",
      `--imports=${imports}`,
    ]);
    // No timer or flag reaches that loop: a thread of its own reported the
    // run and killed it.
    assert.equal(run.signal, "SIGKILL", run.stderr);
    assert.equal(run.report.outcome, "timeout");
    assert.equal(run.report.export, "spin");
    assert.match(
      run.report.message,
      /^guest stopped at its deadline: 100 ms allowed, stopped after [\d.]+ ms, while loading the --imports module \(its own code held the thread: the process was killed\)$/,
    );
  }));

Deno.test("main.ts --timeout: a guest path that is a FIFO no one writes to is a timeout while reading", () =>
  withGuestFifo(async (fifo, directory) => {
    const run = await runMain(directory, [
      fifo,
      "--invoke=spin",
      "--timeout=100",
      "--expect=timeout",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.report.outcome, "timeout");
    assert.match(run.report.message, /, while reading the guest$/);
  }));
