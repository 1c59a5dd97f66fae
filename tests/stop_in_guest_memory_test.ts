/**
 * A StopSignal over a guest's own shared memory is refused: the guest
 * could clear its flag (and with it the stop) or set it. Each refusal is
 * checked beside a fresh StopSignal, which the same guest obeys.
 */
import assert from "./support/assert.ts";
import { FuelMeter, loadGuest, StopSignal } from "../mod.ts";
import { wat } from "./support/instrument.ts";

/**
 * Guests that, in their loop, store 0 in the first word of a shared memory
 * they import, or of one they export: where a StopSignal's flag lay there,
 * the stop would be cleared before the watchdog's thread read it.
 */
const IMPORTER = await wat(`(module
  (import "env" "shared" (memory 1 1 shared))
  (global $ran (export "ran") (mut i32) (i32.const 0))
  (func $start (global.set $ran (i32.const 1)))
  (start $start)
  (func (export "spin")
    (loop $l (i32.atomic.store (i32.const 0) (i32.const 0)) (br $l))))`);
const EXPORTER = await wat(`(module
  (memory (export "own") 1 1 shared)
  (func (export "spin")
    (loop $l (i32.atomic.store (i32.const 0) (i32.const 0)) (br $l))))`);

const REFUSED =
  /over the shared memory of .*, which the guest can write.*new StopSignal\(\)/;

function sharedMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
}

Deno.test("a call given a StopSignal over the guest's imported or exported memory refuses it", async () => {
  const shared = sharedMemory();
  const importer = await loadGuest(IMPORTER, {
    interruptible: true,
    imports: { env: { shared } },
  });
  const exporter = await loadGuest(EXPORTER, { interruptible: true });
  const own = exporter.instance.exports.own as WebAssembly.Memory;
  const cases = [
    [importer, shared.buffer, /its import env\.shared/],
    [exporter, own.buffer, /its export own/],
  ] as const;
  for (const [guest, buffer, where] of cases) {
    const stop = new StopSignal(buffer as SharedArrayBuffer);
    stop.stop();
    assert.throws(
      () => guest.invoke("spin", [], { stop, timeout: 10_000 }),
      (error: unknown) =>
        error instanceof TypeError && REFUSED.test(error.message) &&
        where.test(error.message) && error.message.startsWith("invoke's stop"),
    );
    // The guest obeys a signal of its own.
    const fresh = new StopSignal();
    fresh.stop();
    const outcome = guest.invoke("spin", [], { stop: fresh, timeout: 10_000 });
    assert.equal(outcome.outcome, "aborted");
  }
});

Deno.test("a reinstantiated guest's own memory is refused as the first one was", async () => {
  const guest = await loadGuest(EXPORTER, { interruptible: true });
  await guest.reinstantiate();
  const own = guest.instance.exports.own as WebAssembly.Memory;
  const stop = new StopSignal(own.buffer as SharedArrayBuffer);
  assert.throws(
    () => guest.invoke("spin", [], { stop, timeout: 10_000 }),
    (error: unknown) =>
      error instanceof TypeError && REFUSED.test(error.message) &&
      /its export own/.test(error.message),
  );
});

Deno.test("an async call refuses it too", async () => {
  const guest = await loadGuest(EXPORTER, { async: true });
  const own = guest.instance.exports.own as WebAssembly.Memory;
  const stop = new StopSignal(own.buffer as SharedArrayBuffer);
  await assert.rejects(
    async () => await guest.invokeAsync("spin", [], { stop, timeout: 10_000 }),
    (error: unknown) =>
      error instanceof TypeError && REFUSED.test(error.message) &&
      error.message.startsWith("invokeAsync's stop"),
  );
  const fresh = new StopSignal();
  fresh.stop();
  const outcome = await guest.invokeAsync("spin", [], { stop: fresh });
  assert.equal(outcome.outcome, "aborted");
});

Deno.test("a load given a StopSignal over a memory it imports refuses it before the start function", async () => {
  const shared = sharedMemory();
  await assert.rejects(
    () =>
      loadGuest(IMPORTER, {
        stop: new StopSignal(shared.buffer as SharedArrayBuffer),
        imports: { env: { shared } },
      }),
    (error: unknown) =>
      error instanceof TypeError && REFUSED.test(error.message) &&
      error.message.startsWith("loadGuest's stop"),
  );
  // The start function had not run: it sets this on the next instance only.
  const guest = await loadGuest(IMPORTER, {
    stop: new StopSignal(),
    imports: { env: { shared } },
  });
  assert.equal((guest.instance.exports.ran as WebAssembly.Global).value, 1);
});

Deno.test("a FuelMeter run refuses a StopSignal over the attached instance's exported memory", async () => {
  const meter = new FuelMeter(EXPORTER);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const own = instance.exports.own as WebAssembly.Memory;
  const spin = instance.exports.spin as () => void;
  assert.throws(
    () =>
      meter.run(spin, {
        stop: new StopSignal(own.buffer as SharedArrayBuffer),
        timeout: 10_000,
      }),
    (error: unknown) =>
      error instanceof TypeError && REFUSED.test(error.message) &&
      /attached to the meter \(its export own\)/.test(error.message),
  );
  const stop = new StopSignal();
  stop.stop();
  const outcome = meter.run(spin, { stop, timeout: 10_000 });
  assert.equal(outcome.outcome, "aborted");
});
