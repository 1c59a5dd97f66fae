/**
 * A module within the engine's limits that the rewrite would push past them
 * (it adds types, functions, imports, exports and a memory) is refused with
 * one line, rather than rewritten into bytes the engine refuses.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { concatBytes, encodeLeb } from "./support/module_bytes.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { isGuestLoadError, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";

function section(id: number, ...content: (number[] | Uint8Array)[]) {
  const body = concatBytes(...content);
  return concatBytes([id, ...encodeLeb(body.length)], body);
}

function repeat(times: number, item: number[]): Uint8Array {
  const out = new Uint8Array(times * item.length);
  for (let i = 0; i < times; i++) {
    for (let j = 0; j < item.length; j++) out[i * item.length + j] = item[j]!;
  }
  return out;
}

function moduleOf(...sections: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concatBytes(
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...sections,
  );
}

/** `count` types `() -> ()`. */
function types(count: number) {
  return moduleOf(
    section(1, encodeLeb(count), repeat(count, [0x60, 0x00, 0x00])),
  );
}

const overLimit = (error: unknown) =>
  isInvalidModule(error) && /more than the engine's limit/.test(error.message);

Deno.test("a stop flag's third added type is counted against the engine's million types", () => {
  const full = types(999_998);
  assert.ok(WebAssembly.validate(full));
  assert.ok(WebAssembly.validate(instrument(full).bytes));
  assert.throws(() => instrument(full, { stopFlag: true }), overLimit);
  const fits = types(999_997);
  assert.ok(WebAssembly.validate(instrument(fits, { stopFlag: true }).bytes));
});

Deno.test("a register copy is counted against the engine's million functions", () => {
  // Function 0, `(i32) -> i32`, calls itself (it gets a register copy);
  // 999,998 more are empty.
  const count = 999_999;
  const recursive = [
    ...[0x00, 0x20, 0x00, 0x04, 0x7f, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10],
    ...[0x00, 0x05, 0x41, 0x00, 0x0b, 0x0b],
  ];
  const bytes = moduleOf(
    section(1, [0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00]),
    section(3, encodeLeb(count), [0x00], repeat(count - 1, [0x01])),
    section(
      10,
      encodeLeb(count),
      [recursive.length],
      recursive,
      repeat(count - 1, [0x02, 0x00, 0x0b]),
    ),
  );
  assert.ok(WebAssembly.validate(bytes));
  assert.throws(() => instrument(bytes), overLimit);
});

/** A byte vector of `count` exports `e<i>` of function 0. */
function exportEntries(count: number): Uint8Array {
  const head = encodeLeb(count);
  // Each entry: the name's length, `e` and its digits, kind 0, index 0.
  let size = head.length;
  for (let i = 0; i < count; i++) size += String(i).length + 4;
  const out = new Uint8Array(size);
  out.set(head);
  let at = head.length;
  for (let i = 0; i < count; i++) {
    const digits = String(i);
    out[at++] = digits.length + 1;
    out[at++] = 0x65; // e
    for (let j = 0; j < digits.length; j++) out[at++] = digits.charCodeAt(j);
    at += 2; // kind 0 (a function), index 0
  }
  return out;
}

/**
 * One function `() -> ()`, the start function when `start`, exported
 * `count` times.
 */
function exported(count: number, start = false) {
  return moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x01, 0x00]),
    section(7, exportEntries(count)),
    ...(start ? [section(8, [0x00])] : []),
    section(10, [0x01, 0x02, 0x00, 0x0b]),
  );
}

Deno.test("the engine's million exports: a module up to it is metered, and what metering adds is counted", () => {
  // The engine takes a million exports; the rewriter used to refuse more
  // than 99,999.
  const many = exported(999_999, true);
  assert.ok(WebAssembly.validate(many));
  assert.ok(WebAssembly.validate(instrument(many).bytes));
  // The deferred start's export is the 1,000,001st, and so is the zones'.
  assert.throws(() => instrument(many, { deferStart: true }), overLimit);
  assert.throws(() => instrument(many, { stopsWaitFor: ["e0"] }), overLimit);
  // Both are refused from the export count at the head of its section,
  // before a million exports are read (which took seconds): a function
  // body past them with an unknown opcode, which the rewrite would report
  // when it came to it, is never reached.
  const unread = many.slice();
  unread[unread.length - 1] = 0xff;
  assert.equal(WebAssembly.validate(unread), false);
  assert.throws(() => instrument(unread, { deferStart: true }), overLimit);
  assert.throws(
    () => instrument(unread, { stopsWaitFor: ["e0"] }),
    (error: unknown) =>
      overLimit(error) && /with zones adds 2/.test(String(error)),
  );
});

Deno.test("the engine's million imports: a module up to it is metered, and what metering adds is counted", () => {
  // `count` imports of m.f, a function `() -> ()`, and one memory.
  const imports = (count: number) =>
    moduleOf(
      section(1, [0x01, 0x60, 0x00, 0x00]),
      section(
        2,
        encodeLeb(count),
        repeat(count, [0x01, 0x6d, 0x01, 0x66, 0x00, 0x00]),
      ),
      section(5, [0x01, 0x00, 0x01]),
    );
  const many = imports(999_999);
  assert.ok(WebAssembly.validate(many));
  assert.ok(WebAssembly.validate(instrument(many).bytes));
  // A stop flag adds on_stop_flag, the flag memory and the defined memory.
  assert.throws(() => instrument(many, { stopFlag: true }), overLimit);
  // That is known from the import count at the head of its section: a
  // malformed data section past the imports is never reached.
  const unread = concatBytes(many, section(11, [0x01, 0x09]));
  assert.equal(WebAssembly.validate(unread as Uint8Array<ArrayBuffer>), false);
  assert.throws(() => instrument(unread, { stopFlag: true }), overLimit);
  const fits = instrument(imports(999_996), { stopFlag: true });
  assert.ok(WebAssembly.validate(fits.bytes));
});

Deno.test("a stop flag's memory is counted against the engine's 100,000 memories", async () => {
  // `count` memories of no pages.
  const memories = (count: number) =>
    moduleOf(section(5, encodeLeb(count), repeat(count, [0x00, 0x00])));
  const full = memories(100_000);
  assert.ok(WebAssembly.validate(full));
  assert.ok(WebAssembly.validate(instrument(full).bytes));
  // It used to give the engine 100,001 memories, and a stoppable load
  // called that a bug in early-exit. (A load in this process now refuses
  // more than MAX_MEMORIES before rewriting.)
  assert.throws(() => instrument(full, { stopFlag: true }), overLimit);
  await assert.rejects(
    loadGuest(full, { interruptible: true }),
    (error: unknown) =>
      isGuestLoadError(error) && error.reason === "limits" &&
      !/bug in early-exit/.test(String(error)),
  );
  const fits = instrument(memories(99_999), { stopFlag: true });
  assert.ok(WebAssembly.validate(fits.bytes));
});

Deno.test("the zones' global is counted against the engine's million globals", () => {
  // `count` immutable i32 globals, and a function exported as `malloc`.
  const globals = (count: number) =>
    moduleOf(
      section(1, [0x01, 0x60, 0x00, 0x00]),
      section(3, [0x01, 0x00]),
      section(
        6,
        encodeLeb(count),
        repeat(count, [0x7f, 0x00, 0x41, 0x00, 0x0b]),
      ),
      section(7, [0x01, 0x06, ...new TextEncoder().encode("malloc"), 0, 0]),
      section(10, [0x01, 0x02, 0x00, 0x0b]),
    );
  const full = globals(999_999);
  assert.ok(WebAssembly.validate(instrument(full).bytes));
  // The message used to name a global count and offset of the output.
  assert.throws(
    () => instrument(full, { stopsWaitFor: ["malloc"] }),
    (error: unknown) =>
      overLimit(error) && /has 999999 globals/.test(String(error)),
  );
  const fits = instrument(globals(999_998), { stopsWaitFor: ["malloc"] });
  assert.ok(WebAssembly.validate(fits.bytes));
});

Deno.test("a module whose metered rewrite would pass the engine's 1 GiB is refused as its code is planned, before it is written", () => {
  // 5,900 functions of 8,000 calls of an import each (each under the
  // limits of a function's compile units and cost): 94 MB, which the
  // engine takes; each 2-byte call gets a check after it, 11.5 times its
  // size in all. The rewrite used to write all 1.1 GB, which the engine
  // then refused (a stoppable load called it a bug in early-exit), and
  // then planned all of the code before it refused it (100 MB of chained
  // `memory.grow`s, 32 times their size rewritten, held 615 MB of plans).
  const functions = 5_900;
  const calls = 8_000;
  const body = new Uint8Array(2 + 2 * calls);
  for (let i = 0; i < calls; i++) body[1 + 2 * i] = 0x10; // call 0
  body[body.length - 1] = 0x0b;
  const size = encodeLeb(body.length);
  const head = moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(2, [0x01, 0x01, 0x6d, 0x01, 0x66, 0x00, 0x00]),
    section(3, encodeLeb(functions), repeat(functions, [0x00])),
  );
  const count = encodeLeb(functions);
  const codeSize = count.length + functions * (size.length + body.length);
  const code = [0x0a, ...encodeLeb(codeSize), ...count];
  const bytes = new Uint8Array(
    head.length + code.length + codeSize - count.length,
  );
  bytes.set(head);
  bytes.set(code, head.length);
  let at = head.length + code.length;
  for (let f = 0; f < functions; f++) {
    bytes.set(size, at);
    bytes.set(body, at + size.length);
    at += size.length + body.length;
  }
  assert.equal(at, bytes.length);
  assert.ok(WebAssembly.validate(bytes));
  // The last body's first call made an unknown opcode: the refusal comes
  // before the scan reaches it.
  bytes[at - body.length + 1] = 0xff;
  assert.throws(
    () => instrument(bytes, { validate: false }),
    (error: unknown) =>
      overLimit(error) &&
      /the metered module would be at least \d+ bytes/.test(String(error)),
  );
});

Deno.test("a body's locals count what its charges and refunds add: 49,997 that grow a 64-bit memory are refused, not rewritten past 50,000", async () => {
  // The fuel's local, the charge's, the operand's and the 64-bit grow's
  // result: 50,001, which the engine refused as a bug of the rewrite.
  const body = (grows: boolean) =>
    wat(`(module
      (memory i64 1)
      (func (export "f") (param i64) (result i64) (local ${
      "i64 ".repeat(49_996)
    })
        ${grows ? "(memory.grow (local.get 0))" : "(local.get 0)"}))`);
  const refused = await body(true);
  assert.ok(WebAssembly.validate(refused));
  for (const options of [{}, { stopFlag: true }]) {
    assert.throws(
      () => instrument(refused, options),
      (error: unknown) =>
        isInvalidModule(error) &&
        /function 0 has too many locals to add fuel counters/.test(
          error.message,
        ),
    );
  }
  // Without the grow, it needs one local more, and fits.
  const fits = instrument(await body(false));
  assert.ok(WebAssembly.validate(fits.bytes));
  // Deadline-only, nothing is charged: it fits too.
  const flagOnly = instrument(refused, {
    stopFlag: true,
    fuel: false,
    stopFlagTraps: true,
  });
  assert.ok(WebAssembly.validate(flagOnly.bytes));
});
