/**
 * A stop's wait for the guest to leave a no-stop zone is bounded by guest
 * work, whatever the grace: {@linkcode ZONE_WAIT_FUEL} of fuel, each chunk
 * of a bulk operator counting {@linkcode ZONE_CHUNK_FUEL}, which the grace
 * gets back when the wait ends. Counted in checks and passes, not time.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { FuelMeter, type MeterRunOptions } from "../mod.ts";
import { ZONE_CHUNK_FUEL, ZONE_WAIT_FUEL } from "../src/meter/meter_waits.ts";
import { CHUNK } from "../src/wasm/bulk_helpers.ts";
import { expectOutcome } from "./support/outcome.ts";

/**
 * An exported `malloc` (a zone by default) that calls the host's `tick`,
 * then fills `bytes` bytes in one `memory.fill`, then makes `passes` loop
 * passes, each counted in `passes` and filling 4 KiB (about 4,100 fuel,
 * so that a wait's passes, each of which asks the host, take a few
 * milliseconds, far from the clock's backstop), and last sets `done`; and a
 * `cleanup` of `n` passes, as a library's glue runs after a stop.
 */
const GUEST = await assembleWat(`(module
  (import "host" "tick" (func $tick))
  (memory 300)
  (global $passes (export "passes") (mut i32) (i32.const 0))
  (global $done (export "done") (mut i32) (i32.const 0))
  (func $malloc (export "malloc") (param $bytes i32) (param $n i32) (result i32)
    (call $tick)
    (memory.fill (i32.const 0) (i32.const 1) (local.get $bytes))
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (global.get $passes) (local.get $n)))
        (global.set $passes (i32.add (global.get $passes) (i32.const 1)))
        (memory.fill (i32.const 0) (i32.const 2) (i32.const 4096))
        (br $l)))
    (global.set $done (i32.const 1))
    (i32.const 8))
  (func (export "run") (param $bytes i32) (param $n i32)
    (global.set $passes (i32.const 0))
    (global.set $done (i32.const 0))
    (drop (call $malloc (local.get $bytes) (local.get $n))))
  (func (export "cleanup") (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i)))`);

interface Guest {
  meter: FuelMeter;
  run(bytes: number, passes: number): void;
  cleanup(n: number): number;
  passes(): number;
  done(): boolean;
  /**
   * Stops the guest at its `at`th call of `on_stop_flag` from now (a
   * bulk operator asks between its chunks, with the flag clear).
   */
  stopAt(at: number): void;
  /** Stops the guest at its next `tick`. */
  stopAtTick(): void;
  /** The guest's calls of `on_stop_flag` since the stop. */
  checksAfterStop(): number;
}

/** The guest on a fresh meter, counting its calls of `on_stop_flag`. */
async function load(): Promise<Guest> {
  const meter = new FuelMeter(GUEST);
  let checks = 0;
  let stopAt: number | undefined;
  let atTick = false;
  let stoppedAt = -1;
  const stop = () => {
    stopAt = undefined;
    atTick = false;
    stoppedAt = checks;
    meter.stop();
  };
  const [name, namespace] = Object.entries(meter.imports)[0]!;
  const fields = Object.getOwnPropertyDescriptors(namespace);
  const inner = fields.on_stop_flag!.value as () => number;
  fields.on_stop_flag = {
    ...fields.on_stop_flag,
    value: () => {
      if (++checks === stopAt) stop();
      return inner();
    },
  };
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    [name]: Object.defineProperties({}, fields),
    host: { tick: () => atTick && stop() },
  });
  meter.attach(instance);
  const exports = instance.exports as Record<string, CallableFunction>;
  const global = (name: string) =>
    (instance.exports[name] as WebAssembly.Global).value as number;
  return {
    meter,
    run: (bytes, passes) => exports.run(bytes, passes),
    cleanup: (n) => exports.cleanup(n),
    passes: () => global("passes"),
    done: () => global("done") === 1,
    stopAt: (at) => stopAt = checks + at,
    stopAtTick: () => atTick = true,
    checksAfterStop: () => checks - stoppedAt,
  };
}

/** A fill of `chunks` chunks, stopped at the check after its `at`th. */
function stoppedFill(guest: Guest, chunks: number, at: number, options = {}) {
  guest.stopAt(at);
  return guest.meter.run(() => guest.run(chunks * CHUNK, 0), options);
}

Deno.test("a zone's wait counts a bulk operator's chunks: a stop during a 16 MiB fill lands after 18 of its 256 chunks, one during a 640 KiB fill after the fill", async () => {
  const guest = await load();
  // The fill's own fuel, a unit a byte, was paid before it began.
  expectOutcome(stoppedFill(guest, 256, 3), "interrupted");
  // The first two checks after the stop count 1 (a check right after
  // another with no fuel spent between may be a loop's header after a
  // function's entry), each next one a chunk's worth, until
  // ZONE_WAIT_FUEL is spent: the stop lands inside the fill.
  const bound = Math.ceil(ZONE_WAIT_FUEL / ZONE_CHUNK_FUEL) + 2;
  assert.equal(guest.checksAfterStop(), bound);
  assert.ok(!guest.done(), "the stop landed inside the zone");

  // A fill of 10 chunks, stopped after its first, ends within the bound:
  // the stop lands after it.
  expectOutcome(stoppedFill(guest, 10, 1), "interrupted");
  assert.ok(guest.done(), "the zone ended before the stop landed");

  // Without a stop the fill runs whole, asking between chunks.
  expectOutcome(guest.meter.run(() => guest.run(256 * CHUNK, 0)), "returned");
  assert.ok(guest.done());
});

Deno.test("a zone's wait is bounded by ZONE_WAIT_FUEL of work even with an endless grace, and a zone within it ends first", async () => {
  const guest = await load();
  // What a pass costs, measured without a stop.
  const measured = expectOutcome(
    guest.meter.run(() => guest.run(0, 10_000)),
    "returned",
  );
  const once = guest.meter.run(() => guest.run(0, 0)).fuel!.consumed;
  const perPass = (measured.fuel!.consumed - once) / 10_000;
  assert.ok(perPass > 0);

  const endless: MeterRunOptions = { grace: Infinity };
  // A zone of 100 times the bound, stopped at its start: the stop lands
  // inside it, after the bound's worth of passes.
  const long = Math.ceil(100 * ZONE_WAIT_FUEL / perPass);
  guest.stopAtTick();
  expectOutcome(
    guest.meter.run(() => guest.run(0, long), endless),
    "interrupted",
  );
  assert.ok(!guest.done(), "the stop landed inside the zone");
  const bound = ZONE_WAIT_FUEL / perPass;
  assert.ok(
    guest.passes() <= bound + 1 && guest.passes() >= bound - 10,
    `${guest.passes()} passes after the stop, the bound ${bound}`,
  );

  // A zone of half the bound ends, and the stop lands after it.
  const half = Math.floor(ZONE_WAIT_FUEL / 2 / perPass);
  guest.stopAtTick();
  expectOutcome(
    guest.meter.run(() => guest.run(0, half), endless),
    "interrupted",
  );
  assert.ok(guest.done());
  assert.equal(guest.passes(), half);
});

Deno.test("a zone's wait gives what its chunks counted back to the grace: the glue's cleanup after the stop still gets the whole default grace", async () => {
  const guest = await load();
  // A cleanup that costs more than the default grace less what the
  // stopped fill's 7 chunks count, but less than the grace.
  const n = 75_000;
  const cost = guest.meter.run(() => guest.cleanup(n)).fuel!.consumed;
  assert.ok(
    cost > 1_000_000 - 7 * ZONE_CHUNK_FUEL && cost < 950_000,
    `the cleanup costs ${cost}`,
  );
  let cleaned: number | undefined;
  const withCleanup = (options = {}) => {
    cleaned = undefined;
    guest.stopAt(1);
    return guest.meter.run(() => {
      try {
        guest.run(10 * CHUNK, 0);
      } catch (error) {
        // As a library's glue does: cleans up after the stop, rethrows.
        cleaned = guest.cleanup(n);
        throw error;
      }
    }, options);
  };
  expectOutcome(withCleanup(), "interrupted");
  assert.ok(guest.done(), "the zone ended");
  assert.equal(cleaned, n, "the cleanup ran whole on the grace");

  // The grace still bounds the cleanup: a smaller one cuts it.
  expectOutcome(withCleanup({ grace: Math.floor(cost / 2) }), "interrupted");
  assert.equal(cleaned, undefined, "the cleanup was cut");
});
