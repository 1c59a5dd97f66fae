/**
 * A `br_table` dispatch (an interpreter's `switch`) whose cases only it
 * reaches: its check tests for the dearest case in advance, and the cases
 * pay without a test. Counted against the same guest with an empty
 * `try_table` at the end, which keeps its fuel in the counter and tests at
 * every case, at every budget: the same count whenever both finish or the
 * guest traps, and a run out of fuel stops no later than the twin, and no
 * earlier than the dearest case ahead.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { rewrittenOnce, wat } from "./support/instrument.ts";
import { Reader } from "../src/wasm/reader.ts";

type Bytes = Uint8Array<ArrayBuffer>;

/**
 * A bytecode loop over memory: 0 adds, 1 multiplies (dearer, and leaves
 * early to the shared tail when odd), 2 loads from the address in the
 * accumulator (traps when out of bounds), 3 halts. The cases meet in a tail
 * that advances `$pc`, paid in advance too.
 */
const GUEST = `(module
  (memory 1)
  (data (i32.const 0) "\\00\\01\\00\\01\\00\\03")
  (data (i32.const 16) "\\00\\01\\00\\01\\01\\00\\02\\03")
  (func (export "run") (param $pc i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $next
        (block $tail
          (block $halt
            (block $load
              (block $mul
                (block $add
                  (br_table $add $mul $load $halt
                    (i32.load8_u (local.get $pc))))
                (local.set $acc (i32.add (local.get $acc) (i32.const 3)))
                (br $tail))
              (local.set $acc (i32.mul (i32.add (local.get $acc) (i32.const 1))
                (i32.add (local.get $acc) (i32.const 7))))
              (br_if $tail (i32.and (local.get $acc) (i32.const 1)))
              (local.set $acc (i32.xor (local.get $acc) (i32.const 0x55)))
              (br $tail))
            (local.set $acc (i32.load (i32.shl (local.get $acc) (i32.const 8))))
            (br $tail))
          (br $done))
        (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
        (br $next)))
    (local.get $acc) $TAIL))`;

/**
 * The dearest way from the table to the next check: `$mul`'s 17 operators
 * and the tail's 5.
 */
const DEAREST_CASE = 22n;

/**
 * What a trap in `$load` leaves uncharged: its segment, paid in advance by
 * the table's check, writes no counter (its 6 operators up to its `br`).
 * The twin, which tests at every case, charges it before it traps.
 */
const LOAD_CASE = 6n;

async function guests(): Promise<[Bytes, Bytes]> {
  const register = await wat(GUEST.replaceAll("$TAIL", ""));
  const counter = await wat(GUEST.replaceAll("$TAIL", "(try_table)"));
  return [register, counter];
}

interface Run {
  /** The result, `fuel` when out of fuel, or the trap's message. */
  result: string;
  /** Fuel consumed, from the counter (folded when out of fuel). */
  consumed: bigint;
}

async function runTrapping(bytes: Bytes, budget: bigint, pc: number) {
  const { metered, module } = rewrittenOnce(bytes, false);
  const instance = await WebAssembly.instantiate(module);
  const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
  fuel.value = budget;
  let result: string;
  try {
    result = String((instance.exports.run as (pc: number) => number)(pc));
  } catch (error) {
    result = (error as Error).message;
  }
  const counter = fuel.value as bigint;
  if (counter < 0n) return { result: "fuel", consumed: budget + counter + 1n };
  return { result, consumed: budget - counter };
}

async function runResumable(bytes: Bytes, budget: bigint, pc: number) {
  const { metered, module } = rewrittenOnce(bytes, true);
  let given = 0n;
  let out = false;
  const instance = await WebAssembly.instantiate(
    module,
    {
      [metered.importModule]: {
        // Hands out what the check asks for while the budget lasts.
        [metered.importName]: (counter: bigint, cost: bigint) => {
          assert.ok(counter < 0n && cost > 0n, "out_of_fuel's contract");
          const need = -counter;
          if (given + need > budget) {
            out = true;
            return -1n;
          }
          given += need;
          return 0n;
        },
      },
    },
  );
  const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
  let result: string;
  try {
    result = String((instance.exports.run as (pc: number) => number)(pc));
  } catch (error) {
    result = (error as Error).message;
  }
  const left = fuel.value as bigint;
  return {
    result: out ? "fuel" : result,
    consumed: given - (left < 0n ? 0n : left),
  };
}

/**
 * The twin's run as the guest must give it: a trap (only `$load` traps)
 * leaves the case it traps in uncharged.
 */
function expected(twin: Run): Run {
  return twin.result === "fuel" || /^-?\d+$/.test(twin.result)
    ? twin
    : { result: twin.result, consumed: twin.consumed - LOAD_CASE };
}

function compare(fast: Run, twin: Run, what: string): void {
  if (fast.result !== "fuel") {
    assert.deepEqual(fast, expected(twin), what);
    return;
  }
  // Out of fuel: no later than the twin, and only for want of the dearest
  // case ahead.
  assert.ok(fast.consumed <= twin.consumed, `${what}: stopped later`);
  if (twin.result === "fuel") {
    assert.ok(
      twin.consumed - fast.consumed <= DEAREST_CASE,
      `${what}: stopped ${twin.consumed - fast.consumed} early`,
    );
  }
}

Deno.test("table dispatch: cases paid in advance count the same at every budget", async () => {
  const [fast, twin] = await guests();
  for (const pc of [0, 16]) {
    const full = await runTrapping(twin, 1n << 40n, pc);
    assert.notEqual(full.result, "fuel");
    // The program at 16 ends in a load out of bounds.
    assert.equal(/out of bounds/.test(full.result), pc === 16);
    assert.deepEqual(await runTrapping(fast, 1n << 40n, pc), expected(full));
    let finishedFrom = -1n;
    for (let budget = 0n; budget <= full.consumed + DEAREST_CASE; budget++) {
      const a = await runTrapping(fast, budget, pc);
      compare(a, await runTrapping(twin, budget, pc), `pc ${pc}, ${budget}`);
      if (a.result !== "fuel" && finishedFrom < 0n) finishedFrom = budget;
      if (finishedFrom >= 0n) {
        assert.deepEqual(a, expected(full), `pc ${pc}, ${budget}`);
      }
      const r = await runResumable(fast, budget, pc);
      const rTwin = await runResumable(twin, budget, pc);
      if (r.result !== "fuel") {
        assert.deepEqual(r, expected(rTwin), `resumable ${budget}`);
      } else {
        assert.ok(
          rTwin.result === "fuel" || budget < full.consumed + DEAREST_CASE,
          `resumable, pc ${pc}, ${budget}: out of fuel too early`,
        );
      }
    }
    // It finishes once the budget covers its work and the dearest case.
    assert.ok(finishedFrom >= full.consumed, `pc ${pc}`);
    assert.ok(finishedFrom <= full.consumed + DEAREST_CASE, `pc ${pc}`);
  }
});

/**
 * Runs `GUEST` on a program written at 1024: `adds` adds, then a load
 * from `3 * adds << 8`, out of bounds from 86 adds on. Trapping checks.
 */
async function runProgram(bytes: Bytes, adds: number): Promise<Run> {
  const budget = 1n << 40n;
  const metered = instrument(bytes, { resumable: false, initialFuel: budget });
  const { instance } = await WebAssembly.instantiate(
    metered.bytes as BufferSource,
  );
  const memory = instance.exports.memory as WebAssembly.Memory;
  new Uint8Array(memory.buffer, 1024, adds + 1).fill(0).fill(2, adds);
  let result: string;
  try {
    result = String((instance.exports.run as (pc: number) => number)(1024));
  } catch (error) {
    result = (error as Error).message;
  }
  const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
  return { result, consumed: budget - (fuel.value as bigint) };
}

Deno.test("table dispatch: a guest that traps on purpose after long work leaves only the case it traps in uncharged", async () => {
  const exported = GUEST.replace("(memory 1)", '(memory (export "memory") 1)');
  const fast = await wat(exported.replaceAll("$TAIL", ""));
  const twin = await wat(exported.replaceAll("$TAIL", "(try_table)"));
  const consumed: bigint[] = [];
  for (const adds of [100, 20_000]) {
    const exact = await runProgram(twin, adds);
    assert.match(exact.result, /out of bounds/);
    // The same at any length of work before the trap: the table's check
    // wrote the counter before the case.
    assert.deepEqual(await runProgram(fast, adds), {
      result: exact.result,
      consumed: exact.consumed - LOAD_CASE,
    });
    consumed.push(exact.consumed);
  }
  // Each add is charged its 13 operators: the header's 3 (the load of the
  // opcode and the table), the case's 5 and the tail's 5.
  assert.equal(consumed[1]! - consumed[0]!, 19_900n * 13n);
});

/**
 * What a table cannot pay for: a case that calls a function, a loop in a
 * case, a table in a case, a `br_if` and a fall-through into the tail. Ops:
 * 0 adds, 1 calls, 2 loops, 3 halts, 4 dispatches again on the low bit.
 */
const MIXED = `(module
  (memory 1)
  (data (i32.const 0) "\\00\\01\\02\\04\\00\\02\\04\\01\\03")
  (func $helper (param i32) (result i32) (i32.add (local.get 0) (i32.const 11)))
  (func (export "run") (param $pc i32) (result i32)
    (local $acc i32) (local $k i32)
    (block $done
      (loop $next
        (block $tail
          (block $inner
            (block $halt
              (block $loop
                (block $call
                  (block $add
                    (br_table $add $call $loop $halt $inner $tail
                      (i32.load8_u (local.get $pc))))
                  (local.set $acc (i32.add (local.get $acc) (i32.const 3)))
                  (br $tail))
                (local.set $acc (call $helper (local.get $acc)))
                (br $tail))
              (local.set $k (i32.const 3))
              (loop $spin
                (local.set $acc (i32.add (local.get $acc) (local.get $k)))
                (br_if $spin
                  (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
              (br $tail))
            (br $done))
          (block $odd
            (block $even
              (br_table $even $odd (i32.and (local.get $acc) (i32.const 1))))
            (local.set $acc (i32.mul (local.get $acc) (i32.const 3)))
            (br $tail))
          (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
          (br_if $tail (i32.eqz (local.get $acc)))
          (local.set $acc (i32.xor (local.get $acc) (i32.const 0x55))))
        (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
        (br $next)))
    (local.get $acc) $TAIL))`;

/**
 * A case that calls a function before it joins the others in the tail:
 * the callee spends fuel, so the tail must test. Ops: 0 adds, 1 calls,
 * 2 halts.
 */
const CALLING = `(module
  (memory 1)
  (data (i32.const 0) "\\00\\01\\00\\01\\01\\00\\02")
  (func $helper (param i32) (result i32)
    (i32.add (i32.mul (local.get 0) (i32.const 5)) (i32.const 11)))
  (func (export "run") (param $pc i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $next
        (block $tail
          (block $halt
            (block $call
              (block $add
                (br_table $add $call $halt (i32.load8_u (local.get $pc))))
              (local.set $acc (i32.add (local.get $acc) (i32.const 3)))
              (br $tail))
            (local.set $acc (call $helper (local.get $acc)))
            (br $tail))
          (br $done))
        (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
        (local.set $acc (i32.xor (local.get $acc) (local.get $pc)))
        (br $next)))
    (local.get $acc) $TAIL))`;

Deno.test("table dispatch: calls, loops and nested tables in cases count the same at every budget", async () => {
  for (const guest of [MIXED, CALLING]) {
    await sameAtEveryBudget(
      await wat(guest.replaceAll("$TAIL", "")),
      await wat(guest.replaceAll("$TAIL", "(try_table)")),
    );
  }
});

async function sameAtEveryBudget(fast: Bytes, twin: Bytes): Promise<void> {
  const full = await runTrapping(twin, 1n << 40n, 0);
  assert.notEqual(full.result, "fuel");
  assert.deepEqual(await runTrapping(fast, 1n << 40n, 0), full);
  for (let budget = 0n; budget <= full.consumed + 40n; budget++) {
    const a = await runTrapping(fast, budget, 0);
    const b = await runTrapping(twin, budget, 0);
    if (a.result !== "fuel") assert.deepEqual(a, b, `budget ${budget}`);
    else assert.ok(a.consumed <= b.consumed, `budget ${budget}: stopped later`);
    const r = await runResumable(fast, budget, 0);
    if (r.result !== "fuel") {
      assert.deepEqual(r, await runResumable(twin, budget, 0), `${budget}`);
    }
  }
  assert.deepEqual(await runTrapping(fast, full.consumed + 40n, 0), full);
}

/** The hinted offsets, in the whole module, of every `if` hinted. */
function hintedAt(bytes: Uint8Array): number[] {
  const module = new WebAssembly.Module(bytes as BufferSource);
  const [section] = WebAssembly.Module.customSections(
    module,
    "metadata.code.branch_hint",
  );
  const imported = WebAssembly.Module.imports(module)
    .filter((i) => i.kind === "function").length;
  // Where each function body starts (after its size), by function index.
  const bodies: number[] = [];
  const r = new Reader(bytes, 8);
  while (r.pos < bytes.length) {
    const id = r.u8();
    const end = r.u32() + r.pos;
    if (id === 10) {
      for (let count = r.u32(), i = 0; i < count; i++) {
        const size = r.u32();
        bodies[imported + i] = r.pos;
        r.pos += size;
      }
    }
    r.pos = end;
  }
  const hints = new Reader(new Uint8Array(section!));
  const offsets: number[] = [];
  for (let functions = hints.u32(); functions > 0; functions--) {
    const body = bodies[hints.u32()]!;
    for (let count = hints.u32(); count > 0; count--) {
      offsets.push(body + hints.u32());
      assert.equal(hints.u32(), 1);
      assert.equal(hints.u8(), 0, "unlikely");
    }
  }
  return offsets;
}

Deno.test("table dispatch: the cases are paid without a test of their own, and every test is hinted", async () => {
  const [fast, twin] = await guests();
  const interpreter = await Deno.readFile(
    new URL("../guest/interp/interp.wasm", import.meta.url),
  );
  for (const resumable of [false, true]) {
    const counts = [fast, twin, interpreter].map((guest) => {
      const metered = instrument(guest, { resumable }).bytes;
      const offsets = hintedAt(metered);
      for (const at of offsets) {
        assert.deepEqual(
          [...metered.subarray(at - 1, at + 1)],
          [0x53, 0x04],
          "i64.lt_s; if",
        );
      }
      return offsets.length;
    });
    // The twin tests at each of its cases and their tail; the guest and
    // the interpreter at their entry, loop header and exit.
    assert.equal(counts[1]! - counts[0]!, 5, `resumable: ${resumable}`);
    assert.equal(counts[2], 3, `resumable: ${resumable}`);
  }
});
