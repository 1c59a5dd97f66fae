/**
 * A misspelt option is refused, not dropped: `{ timeot: 50 }` used to load
 * a guest (or make a call) with no deadline at all, and `costs: { perbyte:
 * 0 }` to leave the price at its default, without a word. Each entry point
 * names the option it does not know, the one it is likely meant to be, and
 * the ones it takes, in one line.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  FuelMeter,
  invokeIsolated,
  loadGuest,
  runWasi,
  StopSignal,
} from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { attachedMeter } from "./support/attached_meter.ts";

const RUNAWAY = new URL("../guest/runaway.wasm", import.meta.url);
const HELLO = new URL("../guest/wasi/hello.wasm", import.meta.url);

/** A one-line TypeError that names `given`, and `meant` when there is one. */
function refuses(given: string, meant?: string) {
  return (error: unknown) => {
    assert.ok(error instanceof TypeError, `not a TypeError: ${error}`);
    const { message } = error;
    assert.ok(!message.includes("\n"), `more than one line: ${message}`);
    assert.ok(message.includes(`"${given}"`) || message.includes(given));
    if (meant !== undefined) {
      assert.match(message, new RegExp(`did you mean "${meant}"`));
    }
    return true;
  };
}

Deno.test("loadGuest refuses a misspelt option instead of loading without it", async () => {
  await assert.rejects(
    () => loadGuest(RUNAWAY, { timeot: 50 } as never),
    refuses("timeot", "timeout"),
  );
  await assert.rejects(
    () => loadGuest(RUNAWAY, { Fuel: 10 } as never),
    refuses("Fuel", "fuel"),
  );
  // A call's option given to the load says where it goes.
  await assert.rejects(
    () => loadGuest(RUNAWAY, { refuel: () => 1 } as never),
    (error) => refuses("refuel")(error) && /invokeAsync/.test(String(error)),
  );
  // Left out or undefined, every known option is still fine.
  const guest = await loadGuest(RUNAWAY, { fuel: 100, timeout: undefined });
  expectOutcome(guest.invoke("spin"), "fuel_exhausted");
});

Deno.test("invoke and invokeAsync refuse a misspelt option, and the guest runs on", async () => {
  const guest = await loadGuest(RUNAWAY, { interruptible: true, fuel: 1000 });
  assert.throws(
    () => guest.invoke("spin", [], { timout: 50 } as never),
    refuses("timout", "timeout"),
  );
  assert.throws(
    () => guest.invoke("spin", [], { refuel: () => 1 } as never),
    (error) => refuses("refuel")(error) && /async: true/.test(String(error)),
  );
  expectOutcome(guest.invoke("spin", [], { fuel: 10 }), "fuel_exhausted");
  const stop = new StopSignal();
  stop.stop();
  expectOutcome(guest.invoke("spin", [], { stop }), "aborted");

  const async = await loadGuest(RUNAWAY, { async: true, fuel: 1000 });
  await assert.rejects(
    () => async.invokeAsync("spin", [], { sginal: undefined } as never),
    refuses("sginal", "signal"),
  );
  expectOutcome(
    await async.invokeAsync("spin", [], { fuel: 10 }),
    "fuel_exhausted",
  );
});

Deno.test("instrument refuses a misspelt option, which would leave the stop flag out", async () => {
  const bytes = await Deno.readFile(RUNAWAY);
  assert.throws(
    () => instrument(bytes, { stopflag: true } as never),
    refuses("stopflag"),
  );
  assert.ok(instrument(bytes, { stopFlag: true }).stopFlag !== undefined);
});

Deno.test("a cost table refuses a field it does not have", async () => {
  const bytes = await Deno.readFile(RUNAWAY);
  assert.throws(
    () => instrument(bytes, { costs: { perbyte: 0 } as never }),
    refuses("perbyte"),
  );
  await assert.rejects(
    () => loadGuest(bytes, { fuel: 10, costs: { Default: 0 } as never }),
    refuses("Default"),
  );
});

Deno.test("FuelMeter and its runs refuse a misspelt option; costs go third", async () => {
  const bytes = await Deno.readFile(RUNAWAY);
  assert.throws(
    () => new FuelMeter(bytes, { costs: { default: 2 } } as never),
    (error) => refuses("costs")(error) && /third/.test(String(error)),
  );
  assert.throws(
    () => new FuelMeter(bytes, { stopflag: false } as never),
    refuses("stopflag", "stopFlag"),
  );
  const { meter, exports } = await attachedMeter<() => void>(bytes, {
    fuel: 100,
  });
  const spin = exports.spin;
  assert.throws(
    () => meter.run(spin, { timeuot: 10 } as never),
    refuses("timeuot", "timeout"),
  );
  expectOutcome(meter.run(spin, { fuel: 10 }), "fuel_exhausted");
});

Deno.test("invokeIsolated and runWasi refuse a misspelt option before any child or guest runs", async () => {
  await assert.rejects(
    () =>
      invokeIsolated(RUNAWAY, "spin", [], {
        timeout: 100,
        maxHeapMib: 64,
      } as never),
    refuses("maxHeapMib", "maxHeapMiB"),
  );
  await assert.rejects(
    () => runWasi(HELLO, { arg: ["x"], stdout: "ignore" } as never),
    refuses("arg", "args"),
  );
});

Deno.test("options given as null are one line that says so, not a property read of null", async () => {
  const bytes = await Deno.readFile(RUNAWAY);
  const saysNull = (where: string) => (error: unknown) =>
    error instanceof TypeError &&
    error.message === `${where}'s options must be an object; got null`;
  await assert.rejects(
    () => loadGuest(bytes, null as never),
    saysNull("loadGuest"),
  );
  assert.throws(
    () => new FuelMeter(bytes, null as never),
    saysNull("new FuelMeter"),
  );
});

Deno.test("options that cannot be looked at are one line that names the function, not the engine's throw", async () => {
  const bytes = await Deno.readFile(RUNAWAY);
  const plain = await loadGuest(bytes, { interruptible: true });
  const queued = await loadGuest(bytes, { async: true });
  const { meter } = await attachedMeter(bytes);
  const hostile: [string, () => object][] = [
    ["a revoked proxy", () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    }],
    ["a proxy whose traps throw", () => {
      const fail = () => {
        throw new Error("trap");
      };
      return new Proxy({}, { get: fail, ownKeys: fail, has: fail });
    }],
  ];
  for (const [what, make] of hostile) {
    const entries: [string, () => unknown][] = [
      ["loadGuest", () => loadGuest(bytes, make() as never)],
      ["invoke", () => plain.invoke("spin", [], make() as never)],
      ["invokeAsync", () => queued.invokeAsync("spin", [], make() as never)],
      [
        "invokeIsolated",
        () => invokeIsolated(bytes, "spin", [], make() as never),
      ],
      ["runWasi", () => runWasi(HELLO, make() as never)],
      ["new FuelMeter", () => new FuelMeter(bytes, make() as never)],
      ["FuelMeter.run", () => meter.run(() => 1, make() as never)],
    ];
    for (const [where, call] of entries) {
      const error = await Promise.resolve().then(call).then(
        () => assert.fail(`${where} took ${what}`),
        (error) => error,
      );
      assert.ok(error instanceof TypeError, `${where}, ${what}: ${error}`);
      assert.match(
        error.message,
        new RegExp(
          `^${where}'s options cannot be read .*; pass a plain object$`,
        ),
        `${where}, ${what}`,
      );
    }
  }
});
