/**
 * A guest that keeps what it allocates on the host's heap (structs, arrays,
 * exceptions, strings) is stopped with `out_of_memory` before V8 would end
 * the whole host, in every mode that rewrites it (a deadline, an async
 * call, a `FuelMeter` run, fuel alone), whatever its fuel budget; a guest
 * that drops what it allocates runs on. The attacks run in one child
 * process with a small heap (32 MiB), so that this process survives
 * whatever happens; without the bound, the child dies at the first one.
 */

import assert from "./support/assert.ts";
import { bytesExpression, runInSmallHeap } from "./support/small_heap_child.ts";
import { watBinaryen } from "./support/instrument.ts";
import { exceptionHoarder } from "./support/exception_hoarder.ts";
import { instantiateFlagged } from "./support/stop_flag.ts";
import { instrument } from "../src/wasm/mod.ts";

/** Keeps two-field structs in a linked list, for ever. */
const structs = `(module
  (type $node (struct (field (ref null $node)) (field i64)))
  (global $list (mut (ref null $node)) (ref.null $node))
  (func (export "run")
    (loop $again
      (global.set $list (struct.new $node (global.get $list) (i64.const 1)))
      (br $again))))`;

/** Keeps small arrays, allocated by length, in a linked list, for ever. */
const arrays = `(module
  (type $a (array i64))
  (type $node (struct (field (ref $a)) (field (ref null $node))))
  (global $list (mut (ref null $node)) (ref.null $node))
  (func (export "run")
    (loop $again
      (global.set $list
        (struct.new $node (array.new_default $a (i32.const 4)) (global.get $list)))
      (br $again))))`;

/** Makes 30,000,000 structs (about 1 GB, 15 times the heap) and keeps only the last. */
const dropper = `(module
  (type $node (struct (field (ref null $node)) (field i64)))
  (global $last (mut (ref null $node)) (ref.null $node))
  (func (export "run") (local $i i32)
    (loop $again
      (global.set $last (struct.new $node (ref.null $node) (i64.const 1)))
      (br_if $again
        (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))
          (i32.const 30000000))))))`;

/** Keeps million-character strings from fromCharCodeArray, for ever. */
const fromArrays = `(module
  (type $chars (array (mut i16)))
  (import "wasm:js-string" "fromCharCodeArray"
    (func $from (param (ref null $chars) i32 i32) (result (ref extern))))
  (type $node (struct (field externref) (field (ref null $node))))
  (global $list (mut (ref null $node)) (ref.null $node))
  (func (export "run")
    (local $a (ref null $chars))
    (local.set $a (array.new $chars (i32.const 0x3b1) (i32.const 1000000)))
    (loop $again
      (global.set $list (struct.new $node
        (call $from (local.get $a) (i32.const 0) (i32.const 1000000))
        (global.get $list)))
      (br $again))))`;

/**
 * Appends a character to a string for ever: a chain of cons strings
 * (`length` is imported beside `concat`, as a rewrite needs).
 */
const concats = (length: string) =>
  `(module ${length}
  (import "wasm:js-string" "concat"
    (func $concat (param externref externref) (result (ref extern))))
  (import "wasm:js-string" "fromCharCode"
    (func $char (param i32) (result (ref extern))))
  (global $s (mut externref) (ref.null extern))
  (func (export "run")
    (global.set $s (call $char (i32.const 0x3b1)))
    (loop $again
      (global.set $s (call $concat (global.get $s) (call $char (i32.const 0x3b2))))
      (br $again))))`;

Deno.test("a guest that keeps its GC allocations ends out_of_memory in every mode that rewrites it; one that drops them runs on", async () => {
  const length = `(import "wasm:js-string" "length"
    (func (param externref) (result i32)))`;
  const sources = [structs, arrays, dropper, fromArrays, concats(length)];
  const [hoarder, arrayHoarder, drops, strings, measured] = await Promise
    .all(
      sources.map((wat) => watBinaryen(wat, ["Strings", "CompactImports"])),
    );
  // Each guest is let go before the next, so that its list is garbage.
  const child = await runInSmallHeap<string[]>(
    `
    import { FuelMeter, loadGuest } from "./mod.ts";
    const hoarder = ${bytesExpression(hoarder)};
    const arrays = ${bytesExpression(arrayHoarder)};
    const exceptions = ${bytesExpression(exceptionHoarder())};
    const drops = ${bytesExpression(drops)};
    const strings = ${bytesExpression(strings)};
    const measured = ${bytesExpression(measured)};
    const compile = { builtins: ["js-string"] };
    const long = 600_000;
    // Million-character strings, and a concat chain that fills the heap
    // first: past the default array cap, which is not what this tests.
    const limits = { arrays: 8_388_608 };
    const seen = [];
    const plain = async (bytes, options) => {
      const guest = await loadGuest(bytes, options);
      const result = guest.invoke("run", []);
      seen.push(result.outcome + " " + (result.error?.kind ?? ""));
    };
    await plain(hoarder, { fuel: false, timeout: long });
    await plain(arrays, { fuel: false, timeout: long });
    await plain(exceptions, { fuel: false, timeout: long });
    await plain(strings, { fuel: false, timeout: long, compile, limits });
    await plain(measured, { fuel: false, timeout: long, compile, limits });
    await plain(measured, { fuel: Infinity, compile });
    const asynchronous = async () => {
      const guest = await loadGuest(hoarder, { async: true });
      seen.push((await guest.invokeAsync("run", [])).outcome);
    };
    await asynchronous();
    const metered = async () => {
      const meter = new FuelMeter(hoarder, { fuel: false });
      const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
      meter.attach(instance);
      seen.push(meter.run(() => instance.exports.run(), { timeout: long }).outcome);
    };
    await metered();
    await plain(drops, { fuel: false, timeout: long });
    console.log(JSON.stringify(seen));
  `,
    32,
  );
  assert.equal(child.code, 0, child.stderr);
  assert.deepEqual(child.report, [
    ...Array(6).fill("out_of_memory OutOfMemory"),
    "out_of_memory", // async
    "out_of_memory", // FuelMeter
    "returned ",
  ]);
});

Deno.test("the rewrite asks the host once each 4 MiB a guest allocates, and leaves the count at byte 16 of the flag memory", async () => {
  const bytes = await watBinaryen(`(module
    (type $node (struct (field (ref null $node)) (field i64)))
    (global $last (mut (ref null $node)) (ref.null $node))
    (func (export "run") (param $n i32)
      (loop $again
        (global.set $last (struct.new $node (ref.null $node) (i64.const 1)))
        (br_if $again
          (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`);
  const metered = instrument(bytes, { stopFlag: true, fuel: false });
  const asked: bigint[] = [];
  const { instance, flag } = await instantiateFlagged(metered, (word) => {
    const count = new BigInt64Array(word.buffer, 16, 1);
    asked.push(count[0]!);
    return 0;
  });
  // 32 bytes a struct (16 and two fields of 8): 131,072 fill 4 MiB.
  const run = instance.exports.run as (n: number) => void;
  run(131_071);
  assert.deepEqual(asked, []);
  run(1);
  assert.deepEqual(asked, [4_194_304n]);
  run(3 * 131_072);
  assert.deepEqual(asked, [4_194_304n, 4_194_304n, 4_194_304n, 4_194_304n]);
  // The count starts again at 0 each time it asks.
  assert.equal(new BigInt64Array(flag.buffer, 8, 1)[0], 0n);
});

/**
 * Makes strings of 32,768 two-byte characters (64 KiB, the longest a
 * stoppable guest's `concat` makes by default), reads each once, which
 * flattens it (three fit in one of V8's pages, which they fill to three
 * quarters), and keeps one in `every`.
 */
const pageStrings = (every: number) =>
  `(module
  (import "wasm:js-string" "concat"
    (func $concat (param externref externref) (result (ref extern))))
  (import "wasm:js-string" "charCodeAt"
    (func $charCodeAt (param externref i32) (result i32)))
  (import "wasm:js-string" "fromCharCode"
    (func $char (param i32) (result (ref extern))))
  (import "wasm:js-string" "length"
    (func (param externref) (result i32)))
  (table $kept 0 externref)
  (func (export "run") (local $s externref) (local $k i32) (local $n i32)
    (loop $next
      (local.set $s (call $char (i32.add (i32.const 0x3b1)
        (i32.and (local.get $n) (i32.const 255)))))
      (local.set $k (i32.const 15))
      (loop $double
        (local.set $s (call $concat (local.get $s) (local.get $s)))
        (br_if $double (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
      (drop (call $charCodeAt (local.get $s) (i32.const 5)))
      (if (i32.eqz (i32.rem_u (local.get $n) (i32.const ${every})))
        (then (drop (table.grow $kept (local.get $s) (i32.const 1)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next))))`;

/** Keeps byte arrays of 66,000 elements: three to a page, as the strings. */
const pageArrays = `(module
  (type $bytes (array (mut i8)))
  (type $node (struct (field (ref $bytes)) (field (ref null $node))))
  (global $list (mut (ref null $node)) (ref.null $node))
  (func (export "run")
    (loop $again
      (global.set $list (struct.new $node
        (array.new_default $bytes (i32.const 66000)) (global.get $list)))
      (br $again))))`;

Deno.test("a guest keeping objects that fill V8's pages only in part ends out_of_memory before V8's heap is full, in every mode, a FuelMeter's run included", async () => {
  const [strings, arrays] = await Promise.all(
    [pageStrings(1), pageArrays].map((wat) =>
      watBinaryen(wat, ["Strings", "CompactImports"])
    ),
  );
  // With the live data measured alone, the pages pass V8's limit first:
  // the child died ("Reached heap limit") at the first of these.
  const child = await runInSmallHeap<string[]>(
    `
    import { FuelMeter, loadGuest } from "./mod.ts";
    const strings = ${bytesExpression(strings)};
    const arrays = ${bytesExpression(arrays)};
    const compile = { builtins: ["js-string"] };
    const seen = [];
    for (const bytes of [strings, arrays]) {
      for (const options of [
        { fuel: false, timeout: 600_000 },
        { interruptible: true },
        { async: true },
        { fuel: 1e12 },
      ]) {
        const guest = await loadGuest(bytes, { ...options, compile });
        const result = options.async
          ? await guest.invokeAsync("run", [])
          : guest.invoke("run", []);
        seen.push(result.outcome + " " + (result.error?.kind ?? ""));
      }
    }
    // A FuelMeter's run, deadline-only and counting fuel.
    for (const options of [{ fuel: false }, {}]) {
      const meter = new FuelMeter(arrays, options);
      const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
      meter.attach(instance);
      const result = meter.run(() => instance.exports.run(), { timeout: 600_000 });
      seen.push(result.outcome + " " + (result.error?.kind ?? ""));
    }
    console.log(JSON.stringify(seen));
  `,
    256,
  );
  assert.equal(child.code, 0, child.stderr);
  assert.deepEqual(child.report, Array(10).fill("out_of_memory OutOfMemory"));
});

Deno.test("a limits.heap past what V8 can hold is held at seven eighths of V8's old generation, and the stop says so", async () => {
  // Half of each step is garbage, which the check's full collections free.
  const bytes = await watBinaryen(pageStrings(2), [
    "Strings",
    "CompactImports",
  ]);
  // 240 and 250 MiB in a 256 MiB heap: with the heap let grow an eighth of
  // the limit between full collections, V8 ended the child at both.
  const child = await runInSmallHeap<string[]>(
    `
    import { loadGuest } from "./mod.ts";
    const bytes = ${bytesExpression(bytes)};
    const seen = [];
    for (const mib of [240, 250]) {
      const guest = await loadGuest(bytes, {
        fuel: false,
        timeout: 600_000,
        limits: { heap: mib * 1024 * 1024 },
        compile: { builtins: ["js-string"] },
      });
      const result = guest.invoke("run", []);
      seen.push(result.outcome + " " + result.error?.message);
    }
    console.log(JSON.stringify(seen));
  `,
    256,
  );
  assert.equal(child.code, 0, child.stderr);
  assert.equal(child.report?.length, 2);
  for (const [index, line] of child.report!.entries()) {
    const mib = [240, 250][index];
    assert.match(
      line,
      new RegExp(
        `^out_of_memory the guest's allocations would leave the host's heap at 2[0-3]\\d MiB \\(the pages its live data fills\\), near V8's own limit, which limits\\.heap \\(${mib} MiB\\) is past: V8 would end the host first; lower limits\\.heap, or start deno with a larger --v8-flags=--max-old-space-size$`,
      ),
    );
  }
});
