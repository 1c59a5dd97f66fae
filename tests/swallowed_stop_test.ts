/**
 * A stop the stop flag makes the guest trap at, inside a function the host
 * calls back (a function reference the guest handed to an import), while
 * the host import catches the trap and returns, and the guest then returns
 * with no check left to run: the call still ends with the stop's outcome,
 * not `returned`. The same of a start function's callback, whose load
 * rejects with the stop's error, and of an async call, whose callback the
 * engine cuts short at its first question to the host. And a guest that
 * catches, itself, the rejection that ends an async call's wait, and waits
 * again: the call still ends with the stop, and no import runs after it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  FuelMeter,
  type GuestOptions,
  isAborted,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { expectOutcome } from "./support/outcome.ts";
import { threadCpuMs } from "./support/thread_cpu.ts";

const GUEST = await assembleWat(`(module
  (import "env" "take" (func $take (param funcref)))
  (func $spin (loop $again (br $again)))
  (elem declare func $spin)
  (func (export "run") (call $take (ref.func $spin))))`);

/** An import that calls the function it is given and swallows its trap. */
function swallowing(caught: unknown[]) {
  return {
    env: {
      take: (fn: () => void) => {
        try {
          fn();
        } catch (error) {
          caught.push(error);
        }
      },
    },
  };
}

for (const fuel of [undefined, false] as const) {
  const mode = fuel === false ? "deadline-only" : "plain with a deadline";
  Deno.test(`${mode}: a deadline whose trap a host import swallowed still ends the call as timeout`, async () => {
    // A thread kept off its core for the deadline before the guest calls
    // its import finds it passed at the call's entry, and no trap is
    // swallowed: such a call is tried again with a longer deadline.
    for (const timeout of [50, 400, 3_200]) {
      const caught: unknown[] = [];
      const guest = await loadGuest(GUEST, {
        fuel,
        timeout,
        imports: swallowing(caught),
      });
      expectOutcome(guest.invoke("run"), "timeout");
      if (caught.length === 0 && timeout < 3_200) continue;
      assert.equal(caught.length, 1);
      assert.ok(caught[0] instanceof WebAssembly.RuntimeError);
      break;
    }
  });
}

Deno.test("a deadline-only FuelMeter run whose function caught the flag's trap still ends as timeout", async () => {
  const bytes = await assembleWat(
    `(module (func (export "spin") (loop $again (br $again))))`,
  );
  const meter = new FuelMeter(bytes, { fuel: false });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
  });
  meter.attach(instance);
  const spin = instance.exports.spin as () => void;
  const caught: unknown[] = [];
  // As a library's glue that catches what the guest throws and returns.
  const result = meter.run(() => {
    try {
      spin();
    } catch (error) {
      caught.push(error);
    }
    return "carried on";
  }, { timeout: 50 });
  expectOutcome(result, "timeout");
  assert.equal(caught.length, 1);
});

/**
 * A callback that counts to 2^31 - 1: long past any stop (seconds), but it
 * ends, so that a lost stop fails the test rather than hanging it.
 */
const LONG_CALLBACK = `(func $long (local $i i32)
  (loop $again
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br_if $again (i32.ne (local.get $i) (i32.const 0x7fffffff)))))
  (elem declare func $long)`;

/** Hands the host its callback from an export. */
const CALLS_BACK = await assembleWat(`(module
  (import "env" "take" (func $take (param funcref)))
  ${LONG_CALLBACK}
  (func (export "run") (result i32) (call $take (ref.func $long)) (i32.const 5)))`);

/** Hands the host its callback from its start function. */
const START_CALLS_BACK = await assembleWat(`(module
  (import "env" "take" (func $take (param funcref)))
  ${LONG_CALLBACK}
  (func $start (call $take (ref.func $long)))
  (start $start))`);

/**
 * An import that sets `stop`, then calls the callback it is given and
 * swallows whatever ends it; `seen` gets what it caught and the thread CPU
 * the callback ran for.
 */
function stopsThenSwallows(
  stop: StopSignal,
  seen: { caught: unknown[]; cpuMs: number[] },
) {
  return {
    env: {
      take: (callback: () => void) => {
        stop.stop("stopped in the callback");
        const before = threadCpuMs();
        try {
          callback();
        } catch (error) {
          seen.caught.push(error);
        }
        seen.cpuMs.push(threadCpuMs() - before);
      },
    },
  };
}

/** How much thread CPU a callback may run after its stop: only a lost stop nears it. */
const CALLBACK_CPU_MS = 1_000;

function assertCutShort(seen: { caught: unknown[]; cpuMs: number[] }): void {
  // The callback ended by the stop (a trap, or the engine's refusal to
  // suspend it under a JavaScript frame), not by counting to its end.
  assert.equal(seen.caught.length, 1);
  assert.ok(
    seen.cpuMs[0]! < CALLBACK_CPU_MS,
    `the callback ran ${seen.cpuMs[0]!.toFixed(1)} ms of CPU after its stop`,
  );
}

const SWALLOWING_MODES: Record<string, GuestOptions> = {
  "plain with a stop flag": {},
  "deadline-only": { fuel: false },
  "metered": { fuel: 1e15 },
};

for (const [mode, options] of Object.entries(SWALLOWING_MODES)) {
  for (const async of [false, true]) {
    const how = `${async ? "async" : "sync"}, ${mode}`;
    Deno.test(`${how}: a StopSignal whose trap a host import swallowed in a callback of the start function fails the load`, async () => {
      const stop = new StopSignal();
      const seen = { caught: [], cpuMs: [] };
      await assert.rejects(
        loadGuest(START_CALLS_BACK, {
          ...options,
          async,
          stop,
          imports: stopsThenSwallows(stop, seen),
        }),
        (error) =>
          isAborted(error) && /stopped in the callback/.test(error.message),
      );
      assertCutShort(seen);
    });

    Deno.test(`${how}: a StopSignal whose trap a host import swallowed in a callback ends the call as aborted`, async () => {
      const stop = new StopSignal();
      const seen = { caught: [], cpuMs: [] };
      const guest = await loadGuest(CALLS_BACK, {
        ...options,
        async,
        interruptible: true,
        imports: stopsThenSwallows(stop, seen),
      });
      const result = async
        ? await guest.invokeAsync("run", [], { stop })
        : guest.invoke("run", [], { stop });
      const { error } = expectOutcome(result, "aborted");
      assert.match(error.message, /stopped in the callback/);
      assertCutShort(seen);
    });
  }
}

/**
 * Waits in its import for ever, catching whatever ends the wait (legacy
 * `catch_all`, or `WebAssembly.JSTag`'s catch, which keeps the host's error),
 * then tells the host through another import and waits again.
 */
const CATCHING_WAITERS: Record<string, string> = {
  "catch_all": `(block $h (try_table (catch_all $h) (call $wait)) (return))
    (call $note (ref.null extern))`,
  "catch of WebAssembly.JSTag": `(block $h (result externref)
      (try_table (catch $js $h) (call $wait)) (return))
    (call $note)`,
};

for (const [handler, body] of Object.entries(CATCHING_WAITERS)) {
  Deno.test(`async: a guest catching its wait's rejection (${handler}) and waiting again ends with each stop, and no import runs after it`, async () => {
    const bytes = await assembleWat(`(module
      (import "env" "wait" (func $wait))
      (import "env" "note" (func $note (param externref)))
      (import "env" "js_tag" (tag $js (param externref)))
      (func (export "wait_forever") (loop $again ${body} (br $again))))`);
    const jsTag =
      (WebAssembly as unknown as { JSTag: WebAssembly.ImportValue }).JSTag;
    for (const fuel of [undefined, false, 1e15] as const) {
      for (const stopBy of ["abort", "deadline", "StopSignal"] as const) {
        let waits = 0;
        let notes = 0;
        const guest = await loadGuest(bytes, {
          fuel,
          async: true,
          imports: {
            env: {
              wait: () => (waits++, new Promise(() => {})),
              note: () => void notes++,
              js_tag: jsTag,
            },
          },
        });
        // Each stop is made once the guest waits: the wait's rejection is
        // what the guest catches.
        const controller = new AbortController();
        const stop = new StopSignal();
        const waiting = () => waits > 0;
        const options = stopBy === "deadline"
          ? { timeout: 20 }
          : stopBy === "abort"
          ? { signal: controller.signal }
          : { stop };
        let settled = false;
        const call = guest.invokeAsync("wait_forever", [], options)
          .finally(() => void (settled = true));
        // On a busy machine the deadline may pass before the guest waits:
        // the call then ends without a wait, and this loop must not wait
        // for one for ever.
        while (!waiting() && !settled) {
          await new Promise((r) => setTimeout(r, 1));
        }
        if (stopBy === "abort") controller.abort("enough");
        if (stopBy === "StopSignal") stop.stop("enough");
        const result = await call;
        expectOutcome(result, stopBy === "deadline" ? "timeout" : "aborted");
        if (stopBy === "deadline") {
          assert.ok(waits <= 1, `${fuel} ${stopBy}: waited again`);
        } else assert.equal(waits, 1, `${fuel} ${stopBy}: waited again`);
        assert.equal(
          notes,
          0,
          `${fuel} ${stopBy}: an import ran after the stop`,
        );
      }
    }
  });
}
