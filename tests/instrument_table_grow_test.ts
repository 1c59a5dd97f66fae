/**
 * `table.grow` under `stopFlag`: a grow of more than one chunk (16,384
 * elements) becomes a helper that grows in chunks with a check of the flag
 * between them. It must behave as the operator does (all or nothing: the
 * old size or -1, the table unchanged on -1; every new element set to the
 * initial value), for every kind of reference and for a table64, pay what
 * the operator pays (refunded when it fails), and stop between chunks.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { type Fn, watBinaryen } from "./support/instrument.ts";
import {
  instantiateFlagged,
  instantiateWithFuel,
} from "./support/stop_flag.ts";

const CHUNK = 16384;
const MAX = 40_000;
const START = 10;

/**
 * One table of each kind, each starting at 10 elements: funcref,
 * externref, a typed reference and a table64 with a maximum of 40,000,
 * and a funcref table without one (the engine's 10,000,000 is its most).
 * `grow_try` grows `$f` in a body with exception handling, whose fuel
 * stays in the counter rather than a local.
 */
const GROW_GUEST = `(module
  (type $ft (func (result i32)))
  (table $f (export "f") ${START} ${MAX} funcref)
  (table $x (export "x") ${START} ${MAX} externref)
  (table $r (export "r") ${START} ${MAX} (ref null $ft))
  (table $w (export "w") i64 ${START} ${MAX} externref)
  (table $n (export "n") ${START} funcref)
  (func $one (export "one") (type $ft) (i32.const 1))
  (elem declare func $one)
  (func (export "grow_f") (param funcref i32) (result i32)
    (table.grow $f (local.get 0) (local.get 1)))
  (func (export "grow_x") (param externref i32) (result i32)
    (table.grow $x (local.get 0) (local.get 1)))
  (func (export "grow_r") (param (ref null $ft) i32) (result i32)
    (table.grow $r (local.get 0) (local.get 1)))
  (func (export "grow_w") (param externref i64) (result i64)
    (table.grow $w (local.get 0) (local.get 1)))
  (func (export "grow_n") (param funcref i32) (result i32)
    (table.grow $n (local.get 0) (local.get 1)))
  (func (export "grow_try") (param funcref i32) (result i32)
    (block $h
      (try_table (catch_all $h)
        (return (table.grow $f (local.get 0) (local.get 1)))))
    (i32.const -2)))`;

type Grow = [table: string, count: number | bigint];

/** The counts tried on every table: the threshold, around it, past the max. */
function growths(table: string): Grow[][] {
  const n = (count: number) => table === "w" ? BigInt(count) : count;
  const room = MAX - START;
  return [
    [[table, n(0)], [table, n(1)], [table, n(CHUNK)], [table, n(CHUNK + 1)]],
    [[table, n(room + 1)], [table, n(room)], [table, n(1)], [table, n(0)]],
    [
      [table, n(CHUNK + 1)],
      [table, n(room - CHUNK - 1)],
      [table, n(room)],
      [table, table === "w" ? -1n : -1],
    ],
  ];
}

const CASES: Grow[][] = [
  ...["f", "x", "r", "w", "try"].flatMap(growths),
  // One past the engine's most; the largest grow that fits would take
  // seconds.
  [["n", 10_000_000 - START + 1], ["n", 2 * CHUNK + 3], ["n", 10_000_000]],
];

/**
 * The contents of the tables named, run-length encoded: `.` for null, `1`
 * for `$one`, else the value.
 */
function contents(exports: Record<string, unknown>, names: string[]): string {
  const out: string[] = [];
  for (const name of names) {
    const table = exports[name] as WebAssembly.Table;
    const get = table.get as unknown as (i: number | bigint) => unknown;
    const at = (i: number) => {
      const value = get.call(table, name === "w" ? BigInt(i) : i);
      return value === null ? "." : value === exports.one ? "1" : String(value);
    };
    let runs = "";
    let last = "";
    let count = 0;
    const length = Number(table.length);
    for (let i = 0; i < length; i++) {
      const value = at(i);
      if (value !== last && count > 0) {
        runs += `${last}x${count} `;
        count = 0;
      }
      last = value;
      count++;
    }
    if (count > 0) runs += `${last}x${count}`;
    out.push(`${name}: ${length}: ${runs}`);
  }
  return out.join("\n");
}

/** Makes the grows in turn; each grow's result or error, then the tables. */
function record(exports: Record<string, unknown>, grows: Grow[]): string[] {
  const seen: string[] = [];
  grows.forEach(([table, count], i) => {
    // A different initial value each time, so that a chunk grown with the
    // wrong one shows.
    const value = table === "x" || table === "w" ? `v${i}` : exports.one;
    try {
      seen.push(String((exports[`grow_${table}`] as Fn)(value, count)));
    } catch (error) {
      seen.push(String(error));
    }
  });
  const names = grows.map(([table]) => table === "try" ? "f" : table);
  seen.push(contents(exports, [...new Set(names)]));
  return seen;
}

Deno.test("table.grow under stopFlag behaves as the plain operator", async () => {
  const bytes = await watBinaryen(GROW_GUEST);
  const metered = instrument(bytes, { stopFlag: true });
  for (const grows of CASES) {
    const plain = await WebAssembly.instantiate(bytes);
    const { instance, calls } = await instantiateFlagged(metered);
    const expected = record(plain.instance.exports, grows);
    assert.deepEqual(
      record(instance.exports, grows),
      expected,
      JSON.stringify(grows, (_k, v) => typeof v === "bigint" ? `${v}n` : v),
    );
    // A grow of more than a chunk that succeeds polls between chunks.
    const chunked = grows.some(([, count], i) =>
      Number(count) > CHUNK && expected[i] !== "-1"
    );
    assert.equal(calls() > 0, chunked, JSON.stringify(expected));
  }
});

Deno.test("table.grow under stopFlag pays what the operator pays, and is refunded on -1", async () => {
  const bytes = await watBinaryen(GROW_GUEST);
  const costs = { perElement: 3 };
  const spent = async (stopFlag: boolean) => {
    const metered = instrument(bytes, { costs, stopFlag });
    const { instance, fuel } = await instantiateWithFuel(metered, stopFlag);
    const grow = (name: string, count: number | bigint) => {
      fuel.value = 1n << 40n;
      const value = name === "x" || name === "w" ? "v" : instance.exports.one;
      const result = (instance.exports[`grow_${name}`] as Fn)(value, count);
      return `${name} ${count}: ${result}, ${(1n << 40n) - fuel.value}`;
    };
    return [
      grow("f", 2 * CHUNK + 1),
      grow("f", MAX),
      grow("try", CHUNK + 7),
      grow("try", MAX),
      grow("x", CHUNK + 1),
      grow("w", BigInt(CHUNK + 1)),
      grow("w", BigInt(MAX)),
    ];
  };
  const flagged = await spent(true);
  assert.deepEqual(flagged, await spent(false));
  // The failed grows were given their charge back.
  assert.match(flagged[1]!, /: -1, \d$/);
  assert.match(flagged[6]!, /: -1, \d$/);
});

Deno.test("a set flag stops a table.grow between chunks, the table partly grown", async () => {
  for (const name of ["f", "w"]) {
    const metered = instrument(await watBinaryen(GROW_GUEST), {
      stopFlag: true,
    });
    let answers = 0;
    // On: the function's entry, the added function's and the first chunk;
    // then stop.
    const { instance, flag } = await instantiateFlagged(
      metered,
      () => ++answers <= 3 ? 0 : 1,
    );
    const exports = instance.exports as Record<string, Fn>;
    flag[0] = 1;
    const count = name === "w" ? BigInt(2 * CHUNK + 100) : 2 * CHUNK + 100;
    assert.throws(
      () => exports[`grow_${name}`]!(name === "w" ? "v" : exports.one, count),
      WebAssembly.RuntimeError,
      "unreachable",
    );
    assert.equal(answers, 4);
    const table = instance.exports[name] as WebAssembly.Table;
    // Two chunks grown of three, each new element holding the value.
    const length = Number(table.length);
    assert.equal(length, START + 2 * CHUNK);
    const get = table.get as unknown as (i: number | bigint) => unknown;
    const last = get.call(
      table,
      name === "w" ? BigInt(length - 1) : length - 1,
    );
    assert.notEqual(last, null);
  }
});
