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
import { readErrors } from "../src/isolate_output.ts";

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

Deno.test("a child that dies because the system refused to unmap memory ran out of memory", async () => {
  const lines = [
    "thread 'main' panicked at cli/lib.rs:701:5:",
    "Fatal error in :0: Check failed: 0 == munmap(address, size).",
    "",
  ];
  const errors = await readErrors(ReadableStream.from(
    [new TextEncoder().encode(lines.join("\n"))],
  ));
  assert.equal(errors.outOfMemory, true);
  const other = await readErrors(ReadableStream.from(
    [new TextEncoder().encode("Fatal error in :0: Check failed: 1 == x.\n")],
  ));
  assert.equal(other.outOfMemory, false);
});
