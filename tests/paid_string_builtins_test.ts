/**
 * The JS String Builtins that allocate are paid by what they allocate, so
 * that a fuel budget bounds the strings a guest makes the host hold.
 * Each attack runs in a child process with a small heap, and the test
 * asserts how the child ended; the same attack with characters free
 * (`perElement: 0`) runs until the host's heap limit stops it
 * (`out_of_memory`), so the test would see a regression.
 */

import assert from "./support/assert.ts";
import {
  assertOutOfMemory,
  assertRanOutOfFuel,
  invokeRunInChild,
  type RunReport,
  type SmallHeapChild,
} from "./support/small_heap_child.ts";
import { expectOutcome } from "./support/outcome.ts";
import { watBinaryen } from "./support/instrument.ts";
import { type GuestOptions, isInvalidModule, loadGuest } from "../mod.ts";
import { DEFAULT_ARRAY_BYTES } from "../src/module/limits.ts";
import { CONCAT_CHARACTER_BYTES } from "../src/wasm/string_builtin_helpers.ts";

/** Assembles with binaryen, without the features V8 does not take. */
function assembleWat(source: string): Promise<Uint8Array> {
  return watBinaryen(source, ["Strings", "CompactImports"]);
}

const COMPILE = `compile: { builtins: ["js-string"] }`;

/** The list the hoarders keep what they make alive in. */
const LIST = `
  (type $node (struct (field externref) (field (ref null $node))))
  (global $list (mut (ref null $node)) (ref.null $node))
  (func $keep (param $s externref)
    (global.set $list (struct.new $node (local.get $s) (global.get $list))))`;

const FROM_CHAR_CODE_ARRAY = `
  (type $chars (array (mut i16)))
  (import "wasm:js-string" "fromCharCodeArray"
    (func $from (param (ref null $chars) i32 i32) (result (ref extern))))`;

/**
 * A guest whose `run` makes one array of a million characters and then
 * keeps a new string of all of them per iteration.
 */
async function fromArrayHoarder(): Promise<Uint8Array> {
  return await assembleWat(`(module ${FROM_CHAR_CODE_ARRAY} ${LIST}
    (func (export "run")
      (local $a (ref null $chars))
      (local.set $a (array.new $chars (i32.const 0x3b1) (i32.const 1000000)))
      (loop $again
        (call $keep (call $from (local.get $a) (i32.const 0)
          (i32.const 1000000)))
        (br $again)))
    (func (export "slice") (param $start i32) (param $end i32) (result i32)
      (drop (call $from (array.new_default $chars (i32.const 4))
        (local.get $start) (local.get $end)))
      (i32.const 1)))`);
}

/**
 * A guest whose `run` makes one string of a million characters, then keeps
 * a substring of all but one of them per iteration.
 */
async function substringHoarder(): Promise<Uint8Array> {
  return await assembleWat(`(module ${FROM_CHAR_CODE_ARRAY}
    (import "wasm:js-string" "substring"
      (func $substring (param externref i32 i32) (result (ref extern))))
    ${LIST}
    (func (export "run")
      (local $s externref)
      (local.set $s (call $from
        (array.new $chars (i32.const 0x3b1) (i32.const 1000000))
        (i32.const 0) (i32.const 1000000)))
      (loop $again
        (call $keep (call $substring (local.get $s) (i32.const 1)
          (i32.const 1000000)))
        (br $again))))`);
}

/** The string imports of the doubling attack. */
const CONCAT = `
  (import "wasm:js-string" "concat"
    (func $concat (param externref externref) (result (ref extern))))
  (import "wasm:js-string" "charCodeAt"
    (func $charCodeAt (param externref i32) (result i32)))
  (import "wasm:js-string" "fromCharCode"
    (func $fromCharCode (param i32) (result (ref extern))))`;
const LENGTH = `
  (import "wasm:js-string" "length"
    (func $length (param externref) (result i32)))`;

/**
 * A guest whose `run` doubles a string with `concat` (a cons string of
 * constant size) and reads a character of each (which flattens it,
 * allocating all its characters), keeping every one.
 */
async function concatDoubler(withLength = true): Promise<Uint8Array> {
  return await assembleWat(`(module ${CONCAT} ${withLength ? LENGTH : ""}
    ${LIST}
    (func (export "run")
      (local $s externref)
      (local.set $s (call $fromCharCode (i32.const 0x3b1)))
      (loop $again
        (local.set $s (call $concat (local.get $s) (local.get $s)))
        (drop (call $charCodeAt (local.get $s) (i32.const 0)))
        (call $keep (local.get $s))
        (br $again)))
    (func (export "double")
      (local $s externref)
      (local.set $s (call $fromCharCode (i32.const 0x3b1)))
      (loop $again
        (local.set $s (call $concat (local.get $s) (local.get $s)))
        (br $again))))`);
}

type Child = SmallHeapChild<RunReport>;

/**
 * Loads `bytes` with the string builtins in a child with a `heapMiB` heap,
 * calls `run` with `options`, and returns how the child ended.
 */
async function runInChild(
  bytes: Uint8Array,
  heapMiB: number,
  options: string,
): Promise<Child> {
  return await invokeRunInChild(
    bytes,
    heapMiB,
    `{ ${COMPILE}, ...${options} }`,
  );
}

// Budgets that keep the heap well under the 64 MiB child's limit (48 MiB,
// counted in V8's pages): 20,000,000 brought the million-character
// strings' hoarder within 1 MiB of it.
const BUDGETS = [
  "{ fuel: 15_000_000 }",
  // Million-character strings need arrays past the default cap.
  "{ fuel: 15_000_000, interruptible: true, limits: { arrays: 8_388_608 } }",
];

/**
 * Asserts that the attack in `bytes` runs out of fuel under each of
 * `BUDGETS`, and that the same budget with characters free leaves it to
 * the heap's limit.
 */
async function assertPaidByCharacters(
  bytes: Uint8Array,
  budgets = BUDGETS,
): Promise<void> {
  for (const options of budgets) {
    assertRanOutOfFuel(await runInChild(bytes, 64, options), options);
  }
  assertOutOfMemory(
    await runInChild(
      bytes,
      64,
      "{ fuel: 20_000_000, costs: { perElement: 0 } }",
    ),
  );
}

Deno.test("a guest keeping million-character strings from fromCharCodeArray runs out of fuel, not the host's heap", async () => {
  await assertPaidByCharacters(await fromArrayHoarder());
});

Deno.test("fromCharCodeArray with its end below its start is charged nothing and traps", async () => {
  const bytes = await fromArrayHoarder();
  const guest = await loadGuest(bytes, {
    compile: { builtins: ["js-string"] },
    fuel: 1_000,
  });
  // A wrapped `end - start` would be 4 billion characters: out of fuel.
  expectOutcome(guest.invoke("slice", [1, 0]), "trap");
  const paid = expectOutcome(guest.invoke("slice", [0, 4]), "returned");
  assert.equal(paid.value, 1);
  // Four characters cost four more than none.
  const none = await loadGuest(bytes, {
    compile: { builtins: ["js-string"] },
    fuel: 1_000,
  });
  const empty = expectOutcome(none.invoke("slice", [2, 2]), "returned");
  assert.equal(paid.fuel!.consumed - empty.fuel!.consumed, 4);
});

Deno.test("a host's own fromCharCodeArray is charged as the builtin is", async () => {
  const bytes = await fromArrayHoarder();
  const imports = {
    "wasm:js-string": {
      fromCharCodeArray: (_array: unknown, start: number, end: number) =>
        "x".repeat(Math.max(0, end - start)),
    },
  };
  const used = async (start: number, end: number) => {
    const guest = await loadGuest(bytes, { imports, fuel: 1_000 });
    const result = expectOutcome(
      guest.invoke("slice", [start, end]),
      "returned",
    );
    return result.fuel!.consumed;
  };
  assert.equal(await used(0, 4) - await used(2, 2), 4);
  // The builtin traps on end < start; the host's function does not.
  assert.equal(await used(1, 0), await used(2, 2));
});

Deno.test("a guest doubling a string with concat and flattening it runs out of fuel, not the host's heap", async () => {
  // Loaded to be stopped, it would meet the concat cap first (below): a
  // limits.arrays over the engine's longest string lifts it.
  await assertPaidByCharacters(await concatDoubler(), [
    "{ fuel: 15_000_000 }",
    "{ fuel: 15_000_000, interruptible: true, limits: { arrays: 2 ** 40 } }",
  ]);
});

Deno.test("loaded to be stopped, a concat's result is held to limits.arrays / 8 characters, which the engine flattens in one step", async () => {
  // Doubled to 2^28 characters and read, deadline-only: a 5 ms deadline
  // landed 279 to 451 ms late, all of it in the first charCodeAt.
  const bytes = await assembleWat(`(module ${CONCAT} ${LENGTH}
    (func (export "build") (param $k i32) (result i32)
      (local $s externref)
      (local.set $s (call $fromCharCode (i32.const 0x3b1)))
      (loop $again
        (local.set $s (call $concat (local.get $s) (local.get $s)))
        (br_if $again
          (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
      (call $length (local.get $s))))`);
  const compile = { builtins: ["js-string"] };
  const cap = DEFAULT_ARRAY_BYTES / CONCAT_CHARACTER_BYTES;
  const doublings = Math.log2(cap);
  const stopped: GuestOptions[] = [
    { interruptible: true },
    { fuel: false },
    { fuel: 1e12, timeout: 60_000 },
    { async: true },
  ];
  for (const options of stopped) {
    const guest = await loadGuest(bytes, { ...options, compile });
    const call = (k: number) =>
      options.async
        ? guest.invokeAsync("build", [k])
        : guest.invoke("build", [k]);
    const at = expectOutcome(await call(doublings), "returned");
    assert.equal(at.value, cap);
    const { error } = expectOutcome(await call(doublings + 1), "trap");
    assert.match(
      error.message,
      new RegExp(
        `^guest trapped \\(other\\): Invalid string length: .*limits\\.arrays / ${CONCAT_CHARACTER_BYTES} characters \\(${cap} unless raised.*raise limits\\.arrays`,
      ),
    );
    assert.doesNotMatch(error.message, /\n/);
  }
  // Raised, and without a stop, the result is the engine's to refuse.
  for (
    const options of <GuestOptions[]> [
      { interruptible: true, limits: { arrays: 2 * DEFAULT_ARRAY_BYTES } },
      {},
      { fuel: 1e12 },
    ]
  ) {
    const guest = await loadGuest(bytes, { ...options, compile });
    const longer = expectOutcome(
      guest.invoke("build", [doublings + 1]),
      "returned",
    );
    assert.equal(longer.value, 2 * cap);
  }
});

Deno.test("substrings share their parent's characters: a hoarder of them runs out of fuel", async () => {
  const bytes = await substringHoarder();
  // Thousands of substrings of 999,999 characters: gigabytes if they were
  // copies.
  for (
    const options of [
      "{ fuel: 2_200_000 }",
      "{ fuel: 2_200_000, interruptible: true, limits: { arrays: 8_388_608 } }",
    ]
  ) {
    assertRanOutOfFuel(await runInChild(bytes, 64, options), options);
  }
});

Deno.test("concat past the longest string V8 makes is a trap", async () => {
  const bytes = await concatDoubler();
  // Cons strings only: the doubling reaches 2^29 characters in 29 calls.
  for (const fuel of [undefined, 4_000_000_000]) {
    const guest = await loadGuest(bytes, {
      compile: { builtins: ["js-string"] },
      ...(fuel === undefined ? {} : { fuel }),
    });
    const result = expectOutcome(guest.invoke("double"), "trap");
    assert.match(result.error.message, /Invalid string length/);
  }
});

Deno.test("a metered guest calling concat without importing length is refused", async () => {
  const bytes = await concatDoubler(false);
  await assert.rejects(
    loadGuest(bytes, { compile: { builtins: ["js-string"] }, fuel: 1_000 }),
    (error: unknown) =>
      isInvalidModule(error) && /import length/.test(error.message),
  );
  // Unmetered, nothing needs paying for.
  await loadGuest(bytes, { compile: { builtins: ["js-string"] } });
  // Loaded to be stopped, concat's result is held to a length it reads.
  await assert.rejects(
    loadGuest(bytes, {
      compile: { builtins: ["js-string"] },
      fuel: false,
    }),
    (error: unknown) =>
      isInvalidModule(error) &&
      /a guest loaded to be stopped holds the length of concat's result .*import length/
        .test(error.message),
  );
  // A length that takes only non-null references cannot read every
  // argument concat takes (V8 refuses it as a builtin; a host's own
  // functions, given here, may have that type).
  const narrow = await assembleWat(`(module ${CONCAT}
    (import "wasm:js-string" "length"
      (func $length (param (ref extern)) (result i32)))
    (func (export "run") (result externref)
      (call $concat (ref.null extern) (ref.null extern))))`);
  const hostStrings = {
    "wasm:js-string": {
      concat: (a: string, b: string) => a + b,
      charCodeAt: (text: string, at: number) => text.charCodeAt(at),
      fromCharCode: (code: number) => String.fromCharCode(code),
      length: (text: string) => text.length,
    },
  };
  await assert.rejects(
    loadGuest(narrow, { fuel: 1_000, imports: hostStrings }),
    (error: unknown) =>
      isInvalidModule(error) && /import length/.test(error.message),
  );
});

Deno.test("a metered guest reaching fromCharCodeArray by ref.func or return_call is refused", async () => {
  // binaryen declares what ref.func names in an element segment.
  const referenced = await assembleWat(`(module ${FROM_CHAR_CODE_ARRAY}
    (func (export "ref") (result funcref) (ref.func $from)))`);
  const tail = await assembleWat(`(module ${FROM_CHAR_CODE_ARRAY}
    (func (export "tail") (param (ref null $chars)) (result (ref extern))
      (return_call $from (local.get 0) (i32.const 0) (i32.const 1))))`);
  for (
    const [bytes, pattern] of [
      [referenced, /element segment/],
      [tail, /return_call/],
    ] as const
  ) {
    await assert.rejects(
      loadGuest(bytes, { compile: { builtins: ["js-string"] }, fuel: 1_000 }),
      (error: unknown) => isInvalidModule(error) && pattern.test(error.message),
    );
  }
});

Deno.test("a metered guest putting fromCharCodeArray in a table is refused", async () => {
  const bytes = await assembleWat(`(module ${FROM_CHAR_CODE_ARRAY}
    (table $t 1 funcref)
    (elem (table $t) (i32.const 0) func $from)
    (func (export "size") (result i32) (table.size $t)))`);
  await assert.rejects(
    loadGuest(bytes, { compile: { builtins: ["js-string"] }, fuel: 1_000 }),
    (error: unknown) =>
      isInvalidModule(error) && /element segment/.test(error.message),
  );
  await loadGuest(bytes, { compile: { builtins: ["js-string"] } });
});

/**
 * The builtins that read every character of a string: `equals` and
 * `compare` (two strings), `intoCharCodeArray` (one, into an array). `make`
 * keeps two equal strings of `n` characters and an array to copy them into;
 * `equals`, `compare` and `into` use them once; `loop_*` for ever.
 */
async function readers(withLength = true): Promise<Uint8Array> {
  const uses: Record<string, string> = {
    equals: "(call $equals (global.get $s) (global.get $t))",
    compare: "(call $compare (global.get $s) (global.get $t))",
    into: "(call $into (global.get $s) (global.get $a) (i32.const 0))",
  };
  return await assembleWat(`(module ${FROM_CHAR_CODE_ARRAY}
    ${withLength ? LENGTH : ""}
    (import "wasm:js-string" "equals"
      (func $equals (param externref externref) (result i32)))
    (import "wasm:js-string" "compare"
      (func $compare (param externref externref) (result i32)))
    (import "wasm:js-string" "intoCharCodeArray"
      (func $into (param externref (ref null $chars) i32) (result i32)))
    (global $a (mut (ref null $chars)) (ref.null $chars))
    (global $s (mut externref) (ref.null extern))
    (global $t (mut externref) (ref.null extern))
    (func (export "make") (param $n i32)
      (global.set $a (array.new $chars (i32.const 0x3b1) (local.get $n)))
      (global.set $s (call $from (global.get $a) (i32.const 0) (local.get $n)))
      (global.set $t (call $from (global.get $a) (i32.const 0) (local.get $n))))
    (func (export "null_equals") (result i32)
      (call $equals (ref.null extern) (ref.null extern)))
    (func (export "null_compare") (result i32)
      (call $compare (ref.null extern) (global.get $t)))
    ${
    Object.entries(uses).map(([name, use]) => `
    (func (export "${name}") (result i32) ${use})
    (func (export "loop_${name}") (loop $again (drop ${use}) (br $again)))`)
      .join("")
  }
  )`);
}

const READERS = ["equals", "compare", "into"];

Deno.test("equals, compare and intoCharCodeArray are paid by the characters they read", async () => {
  const bytes = await readers();
  const used = async (name: string, n: number) => {
    const guest = await loadGuest(bytes, {
      compile: { builtins: ["js-string"] },
      fuel: 1_000_000,
    });
    expectOutcome(guest.invoke("make", [n]), "returned");
    return expectOutcome(guest.invoke(name), "returned").fuel!.consumed;
  };
  for (const name of READERS) {
    assert.equal(await used(name, 3_000) - await used(name, 1_000), 2_000);
  }
  const guest = await loadGuest(bytes, {
    compile: { builtins: ["js-string"] },
    fuel: 1_000,
  });
  // Null is no string: nothing to read (equals takes it, compare traps).
  const equal = expectOutcome(guest.invoke("null_equals"), "returned");
  assert.equal(equal.value, 1);
  assert.ok(equal.fuel!.consumed < 10);
  expectOutcome(guest.invoke("null_compare"), "trap");
});

Deno.test("a guest comparing or copying long strings in a loop runs out of fuel", async () => {
  // Each pass reads a million characters: a budget of 20 million ends
  // after a few passes. Charged one each, it ran for hours (25 ms a pass
  // at 2^28 characters); the deadline only ends a regression.
  const bytes = await readers();
  for (const name of READERS) {
    const guest = await loadGuest(bytes, {
      compile: { builtins: ["js-string"] },
      fuel: 20_000_000,
      timeout: 60_000,
      // A million characters come from an array past the default cap.
      limits: { arrays: 8_388_608 },
    });
    expectOutcome(guest.invoke("make", [1_000_000]), "returned");
    expectOutcome(guest.invoke(`loop_${name}`), "fuel_exhausted");
  }
});

Deno.test("a metered guest calling equals, compare or intoCharCodeArray without importing length is refused", async () => {
  const bytes = await readers(false);
  await assert.rejects(
    loadGuest(bytes, { compile: { builtins: ["js-string"] }, fuel: 1_000 }),
    (error: unknown) =>
      isInvalidModule(error) &&
      /equals from wasm:js-string pays for the characters it compares.*import length/
        .test(error.message),
  );
  await loadGuest(bytes, { compile: { builtins: ["js-string"] } });
});
