/**
 * An isolated child's heap limit (`maxHeapMiB`) bounds the guest's linear
 * memories too, which live outside V8's heap: without that, a guest given
 * a 64 MiB heap could still take 4 GiB of the machine's memory (what its
 * own memories may hold together by default).
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  invokeIsolated,
  isGuestLoadError,
  isolatedChildrenExited,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { wat } from "./support/instrument.ts";
import { readErrors } from "../src/isolate/isolate_output.ts";

const MiB = 1024 * 1024;
const PAGE = 65536;

/** `grow(memory, pages)` grows one of two memories, and `size` reads it. */
const TWO_MEMORIES = `(module
  (memory $a 1)
  (memory $b 1)
  (func (export "grow_a") (param i32) (result i32) (memory.grow $a (local.get 0)))
  (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0))))`;

Deno.test("isolation: maxHeapMiB holds a memory's grow, in one memory and shared between several", async () => {
  const one = await wat(`(module (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
  // 4 GiB asked of a child with a 64 MiB heap: refused, as at a maximum.
  const refused = await invokeIsolated(one, "grow", [65535], {
    maxHeapMiB: 64,
    timeout: 60_000,
  });
  assert.equal(expectOutcome(refused, "returned").value, -1);
  // Up to the limit it grows.
  const grown = await invokeIsolated(one, "grow", [64 * MiB / PAGE - 1], {
    maxHeapMiB: 64,
    timeout: 60_000,
  });
  assert.equal(expectOutcome(grown, "returned").value, 1);
  // Two memories share it: 32 MiB each.
  const two = await wat(TWO_MEMORIES);
  for (const name of ["grow_a", "grow_b"]) {
    const over = await invokeIsolated(two, name, [32 * MiB / PAGE], {
      maxHeapMiB: 64,
      timeout: 60_000,
    });
    assert.equal(expectOutcome(over, "returned").value, -1, name);
    const within = await invokeIsolated(two, name, [32 * MiB / PAGE - 1], {
      maxHeapMiB: 64,
      timeout: 60_000,
    });
    assert.equal(expectOutcome(within, "returned").value, 1, name);
  }
  // A stricter limits.memory still holds.
  const stricter = await invokeIsolated(one, "grow", [16], {
    maxHeapMiB: 64,
    limits: { memory: 8 * PAGE },
    timeout: 60_000,
  });
  assert.equal(expectOutcome(stricter, "returned").value, -1);
  await isolatedChildrenExited();
});

Deno.test("isolation: maxHeapMiB holds a memory64's grow", async () => {
  const wide = await wat(`(module (memory i64 1)
    (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0))))`);
  // 8 GiB, which the engine would give.
  const refused = await invokeIsolated(wide, "grow", [131072n], {
    maxHeapMiB: 64,
    timeout: 60_000,
  });
  assert.equal(expectOutcome(refused, "returned").value, -1n);
  await isolatedChildrenExited();
});

Deno.test("isolation: a guest whose memory starts above maxHeapMiB is refused before a child starts", async () => {
  const large = await wat(`(module (memory 2048) (func (export "f")))`);
  const error = await invokeIsolated(large, "f", [], { maxHeapMiB: 64 })
    .then(() => assert.fail("the guest loaded"), (e) => e);
  assert.ok(isGuestLoadError(error), String(error));
  assert.equal(error.reason, "limits");
  assert.match(
    error.message,
    /needs memory 0 to start at 134217728 bytes, more than maxHeapMiB allows it \(67108864 bytes\)/,
  );
  assert.match(error.message, /raise maxHeapMiB to at least 128/);
  assert.equal(error.message.includes("\n"), false);
  // An imported memory, and a second memory past its share of two.
  const imported = await wat(
    `(module (import "env" "m" (memory 2048)) (func (export "f")))`,
  );
  await assert.rejects(
    invokeIsolated(imported, "f", [], { maxHeapMiB: 64 }),
    (e) =>
      isGuestLoadError(e) && /needs imported memory 0 to start/.test(e.message),
  );
  const second = await wat(
    `(module (memory 1) (memory 600) (func (export "f")))`,
  );
  await assert.rejects(
    invokeIsolated(second, "f", [], { maxHeapMiB: 64 }),
    (e) =>
      isGuestLoadError(e) &&
      /needs memory 1 to start at 39321600 bytes, more than maxHeapMiB allows it \(33554432 bytes, its share of 2 memories\); raise maxHeapMiB to at least 75/
        .test(e.message),
  );
  await isolatedChildrenExited();
});

/**
 * What Deno 2.9.6 writes on stderr as a child dies because the system
 * refused to unmap memory (a guest with tens of thousands of memories):
 * its panic handler's banner, then the panic's line, then V8's check.
 */
const PANIC_REPORT = [
  "",
  "=".repeat(60),
  "Deno has panicked. This is a bug in Deno. Please report this",
  "at https://github.com/denoland/deno/issues/new.",
  "",
  "Platform: linux x86_64",
  "Version: 2.9.6",
  'Args: ["deno", "run", "--no-prompt", "--no-config", "isolate_child.ts"]',
  "",
  "thread 'main' (12534) panicked at cli/lib.rs:701:5:",
  "Fatal error in :0: Check failed: 0 == munmap(address, size).",
  "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
  "",
].join("\n");

Deno.test("a child that dies because the system refused to unmap memory ran out of memory", async () => {
  const errors = await readErrors(ReadableStream.from(
    [new TextEncoder().encode(PANIC_REPORT)],
  ));
  assert.equal(errors.outOfMemory, true);
  // Not its heap limit: raising that would not help.
  assert.equal(errors.refusedBySystem(undefined), true);
  assert.equal(errors.refusedBySystem(64), true);
  const other = await readErrors(ReadableStream.from(
    [new TextEncoder().encode("Fatal error in :0: Check failed: 1 == x.\n")],
  ));
  assert.equal(other.outOfMemory, false);
  assert.equal(other.refusedBySystem(undefined), false);
});

/**
 * V8's report of a failed allocation after its last collection, with the
 * heap's size after that collection: V8 writes it at a heap limit and when
 * the system refuses it pages alike.
 */
function retryReport(heapMB: number): string {
  return [
    "",
    "<--- Last few GCs --->",
    "",
    `[13116:0x55ce47b45000]     4958 ms: Mark-Compact (reduce) ${heapMB} (${heapMB}) -> ${heapMB} (${heapMB}) MB, pooled: 0.0 MB, 53.76 / 0.00 ms  last resort; GC in old space requested`,
    "",
    "#",
    "# Fatal JavaScript out of memory: CALL_AND_RETRY_LAST",
    "#",
    "",
  ].join("\n");
}

Deno.test("a child that fails to allocate tells its heap limit from the system's refusal by the heap it held", async () => {
  const read = async (report: string) =>
    await readErrors(ReadableStream.from([new TextEncoder().encode(report)]));
  // 31.5 MB at a 32 MiB limit: the limit.
  const atLimit = await read(retryReport(31.5));
  assert.equal(atLimit.outOfMemory, true);
  assert.equal(atLimit.refusedBySystem(32), false);
  // 10.7 MB (a guest of 40,000 memories, its address space gone): not the
  // limit, whether the caller set one or V8 chose one (256 MiB at least).
  const refused = await read(retryReport(10.7));
  assert.equal(refused.refusedBySystem(64), true);
  assert.equal(refused.refusedBySystem(undefined), true);
  // Near V8's own limit, which no caller set.
  assert.equal(
    (await read(retryReport(4000))).refusedBySystem(undefined),
    false,
  );
  // "Reached heap limit" says so whatever the size.
  assert.equal((await read(V8_REPORT)).refusedBySystem(undefined), false);
});

/** What V8 writes on stderr as it ends a child at its heap limit. */
const V8_REPORT = [
  "",
  "<--- Last few GCs --->",
  "",
  "[8107:0x5640d337f000]      730 ms: Mark-Compact (reduce) 63.3 (64.9) -> 63.3 (64.9) MB",
  "",
  "",
  "#",
  "# Fatal JavaScript out of memory: Reached heap limit",
  "#",
  "==== C stack trace ===============================",
  "",
  "    deno(+0x28b0d2e) [0x564090eaad2e]",
  "",
].join("\n");

/** The guest's own lines, one of which names a report's words mid-line. */
const OWN_LINES = "guest: one\n\nguest: # Fatal error in my own words\n";

/** Reads `chunks` as a child's stderr into a string, and ends it. */
async function forwarded(
  chunks: string[],
  dropReport: (errors: { outOfMemory: boolean }) => boolean,
): Promise<{ text: string; outOfMemory: boolean; refusedBySystem: boolean }> {
  let text = "";
  const decoder = new TextDecoder();
  const target = {
    writeSync(bytes: Uint8Array) {
      text += decoder.decode(bytes);
      return bytes.length;
    },
  };
  const encoder = new TextEncoder();
  const errors = await readErrors(
    ReadableStream.from(chunks.map((chunk) => encoder.encode(chunk))),
    target,
  );
  errors.finish(dropReport(errors));
  return {
    text,
    outOfMemory: errors.outOfMemory,
    refusedBySystem: errors.refusedBySystem(undefined),
  };
}

Deno.test("isolation: V8's report of a child's death by memory stays off the host's stderr, wherever the chunks split it", async () => {
  const whole = OWN_LINES + V8_REPORT;
  for (let cut = 0; cut <= whole.length; cut++) {
    const chunks = [whole.slice(0, cut), whole.slice(cut)];
    const dropped = await forwarded(chunks, (e) => e.outOfMemory);
    assert.equal(dropped.outOfMemory, true, `cut at ${cut}`);
    assert.equal(dropped.refusedBySystem, false, `cut at ${cut}`);
    assert.equal(dropped.text, OWN_LINES, `cut at ${cut}`);
    // A child that lived on (or died of something else) has it all written.
    const kept = await forwarded(chunks, () => false);
    assert.equal(kept.text, whole, `cut at ${cut}`);
  }
  // Deno's panic report, banner and all, with V8's check in it.
  const panicked = OWN_LINES + PANIC_REPORT;
  for (let cut = 0; cut <= panicked.length; cut++) {
    const chunks = [panicked.slice(0, cut), panicked.slice(cut)];
    const dropped = await forwarded(chunks, (e) => e.outOfMemory);
    assert.equal(dropped.text, OWN_LINES, `panic cut at ${cut}`);
    assert.equal((await forwarded(chunks, () => false)).text, panicked);
  }
  // One byte a chunk.
  const bytes = [...whole];
  assert.equal((await forwarded(bytes, (e) => e.outOfMemory)).text, OWN_LINES);
  // Output with no report goes through whole, empty lines at its end too.
  const plain = OWN_LINES + "\n\n\n#\n";
  for (let cut = 0; cut <= plain.length; cut++) {
    const chunks = [plain.slice(0, cut), plain.slice(cut)];
    assert.equal((await forwarded(chunks, () => true)).text, plain);
  }
});
