/**
 * A body of many locals whose stop flag is checked without fuel (an async
 * guest's, which asks the host, or a plain call's, which traps at once)
 * reads the flag through a call of an added function, at its entry and
 * loop headers, and has no `if` of the rewrite's own: V8's baseline
 * compile carries every local into each branch, at the function's first
 * call, where no check can run (an inline check in a body of 40,000 locals
 * held that call 3 to 6 ms; one that traps, 4 to 5 ms a check). Bodies of
 * few locals stay inline. No timing is asserted.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { disassemble } from "./support/instrument.ts";
import { assembleWat } from "../guest/build.ts";
import { instrument } from "../src/wasm/mod.ts";
import { WIDE_LOCALS } from "../src/wasm/locals_cost.ts";
import { loadGuest, StopSignal } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

/** A module whose `wide` and `narrow` each loop over a call of `$leaf`. */
function guest(wideLocals: number): string {
  const body = `(local.set 0 (i32.const 3))
    (loop $l (call $leaf)
      (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))`;
  return `(module
    (func $leaf)
    (func (export "wide") (local ${"i32 ".repeat(wideLocals)}) ${body})
    (func (export "narrow") (local i32 i32 i32) ${body}))`;
}

/** The text of each export's function, from wabt's disassembly. */
function exportedBodies(text: string): Map<string, string> {
  const funcs = new Map<number, string>();
  for (const part of text.split("\n  (func (;").slice(1)) {
    funcs.set(Number(part.slice(0, part.indexOf(";"))), part);
  }
  const bodies = new Map<string, string>();
  for (
    const [, name, index] of text.matchAll(/\(export "(\w+)" \(func (\d+)\)\)/g)
  ) {
    bodies.set(name!, funcs.get(Number(index))!);
  }
  return bodies;
}

/** How many times `word` stands as an instruction in a body's text. */
function count(body: string, word: string): number {
  return body.split("\n").filter((line) => line.trim().split(" ")[0] === word)
    .length;
}

Deno.test("wide locals: an async guest's body of many locals reads the flag by two calls and no if of its own, one of few locals inline", async () => {
  const bytes = await assembleWat(guest(WIDE_LOCALS));
  const out = instrument(bytes, { fuel: false, stopFlag: true });
  const bodies = exportedBodies(await disassemble(out.bytes));
  const wide = bodies.get("wide")!;
  const narrow = bodies.get("narrow")!;
  // The guest's own `br_if` is its only branch; its calls are the guest's
  // `$leaf` and the two checks' (entry and loop header), not the host's.
  assert.equal(count(wide, "if"), 0);
  assert.equal(count(wide, "i32.atomic.load8_u"), 0);
  // The entry's check, the loop header's, then the guest's own call.
  const calls = [...wide.matchAll(/^\s*call (\d+)/gm)].map((m) => m[1]!);
  assert.equal(calls.length, 3);
  assert.equal(calls[0], calls[1]);
  assert.notEqual(calls[2], calls[0]);
  const added = calls;
  // The added function is the check as it stands inline.
  const checker = exportedBodies(
    (await disassemble(out.bytes)).replace(
      /\n {2}\(export "wide"/,
      `\n  (export "checker" (func ${added[0]}))\n  (export "wide"`,
    ),
  ).get("checker")!;
  assert.equal(count(checker, "i32.atomic.load8_u"), 1);
  assert.equal(count(checker, "if"), 2);
  assert.equal(count(checker, "unreachable"), 1);
  // Few locals: the inline check at the entry and the loop header.
  assert.equal(count(narrow, "i32.atomic.load8_u"), 2);
  assert.equal(count(narrow, "if"), 4);
});

Deno.test("wide locals: one local fewer keeps the inline check", async () => {
  const fewer = exportedBodies(
    await disassemble(
      instrument(await assembleWat(guest(WIDE_LOCALS - 1)), {
        fuel: false,
        stopFlag: true,
      }).bytes,
    ),
  ).get("wide")!;
  assert.equal(count(fewer, "i32.atomic.load8_u"), 2);
});

Deno.test("wide locals: a flag that traps at once (a sync guest's) is read by two calls too, of an added function that traps", async () => {
  const text = await disassemble(
    instrument(await assembleWat(guest(WIDE_LOCALS)), {
      fuel: false,
      stopFlag: true,
      stopFlagTraps: true,
    }).bytes,
  );
  const bodies = exportedBodies(text);
  const wide = bodies.get("wide")!;
  assert.equal(count(wide, "i32.atomic.load8_u"), 0);
  assert.equal(count(wide, "if"), 0);
  const calls = [...wide.matchAll(/^\s*call (\d+)/gm)].map((m) => m[1]!);
  assert.equal(calls.length, 3);
  assert.equal(calls[0], calls[1]);
  const checker = exportedBodies(
    text.replace(
      /\n {2}\(export "wide"/,
      `\n  (export "checker" (func ${calls[0]}))\n  (export "wide"`,
    ),
  ).get("checker")!;
  // The flag's load and one `if` that traps, asking no host.
  assert.equal(count(checker, "i32.atomic.load8_u"), 1);
  assert.equal(count(checker, "if"), 1);
  assert.equal(count(checker, "unreachable"), 1);
  assert.equal(count(checker, "call"), 0);
  // Few locals: inline, as before.
  const narrow = bodies.get("narrow")!;
  assert.equal(count(narrow, "i32.atomic.load8_u"), 2);
  assert.equal(count(narrow, "if"), 2);
});

Deno.test("wide locals: calls of a function of 5,000 v128 locals and a loop are stopped by a deadline, a StopSignal and an abort, sync and async, and a short call returns", async () => {
  // Within the compile-units limit (each local counts 12 past 128 locals,
  // a loop 10: up to about 7,000 locals here); 40,000 are refused.
  const bytes = await assembleWat(`(module
    (func $wide (param i32) (result i32) (local ${"v128 ".repeat(5_000)})
      (local $i i32)
      (loop $l (br_if $l (i32.lt_u
        (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get 0))))
      (i32.add (local.get $i) (i32.const 1)))
    (func (export "step") (param i32) (result i32) (call $wide (local.get 0)))
    (func (export "run") (loop $l (drop (call $wide (i32.const 0))) (br $l))))`);
  // A plain call, whose checks trap at once, by a deadline and a
  // StopSignal already set.
  const held = await loadGuest(bytes, { fuel: false, interruptible: true });
  assert.equal(
    expectOutcome(held.invoke("step", [41]), "returned").value,
    42,
  );
  expectOutcome(held.invoke("run", [], { timeout: 20 }), "timeout");
  const stop = new StopSignal();
  stop.stop("enough");
  expectOutcome(held.invoke("run", [], { stop }), "aborted");
  const guest = await loadGuest(bytes, { fuel: false, async: true });
  const step = expectOutcome(await guest.invokeAsync("step", [41]), "returned");
  assert.equal(step.value, 42);
  expectOutcome(await guest.invokeAsync("run", [], { timeout: 20 }), "timeout");
  const controller = new AbortController();
  setTimeout(() => controller.abort("enough"), 20);
  expectOutcome(
    await guest.invokeAsync("run", [], { signal: controller.signal }),
    "aborted",
  );
});
