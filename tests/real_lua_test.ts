import assert from "./support/assert.ts";
import {
  type CallOutcome,
  type FuelMeter,
  isAborted,
  isDeadlineExceeded,
  isFuelExhausted,
  type MeterRunOptions,
} from "../mod.ts";
import type { LuaEngine } from "wasmoon";
import { expectOutcome } from "./support/outcome.ts";
import { HOOK_ERROR, meteredLua, mixedLua, plainLua } from "./support/lua.ts";
import { stopFromWorker } from "./support/worker_stop.ts";

const PROGRAM = mixedLua(1);
const SPIN = "while true do end";
/**
 * A deadline for runs that should return: a state that a stop left unsound
 * may loop for good, which must fail the test, not hang it.
 */
const CAP = { timeout: 20_000 };

/**
 * Runaway scripts, each hiding its loop somewhere else: in Lua's VM, in its
 * error handling (`pcall`, a longjmp in C), in C library functions that loop
 * on their own (`string.rep`, a pattern that backtracks, `gsub`,
 * `table.sort`), in coroutines, and in recursion that overflows Lua's stack
 * over and over.
 */
const RUNAWAYS: Record<string, string> = {
  "an empty loop": SPIN,
  "a loop of caught errors": "while true do pcall(error, 'x') end",
  "a loop inside pcall, in a loop":
    "while true do pcall(function() while true do end end) end",
  "string.rep of a gibibyte": "return #string.rep('x', 2 ^ 30)",
  "string.rep of 32 MiB, in a loop":
    "while true do local s = string.rep('ab', 2 ^ 24) end",
  "a pattern that backtracks":
    "return string.find(string.rep('a', 30000), '.-.-.-.-.-.-b')",
  "gsub over 4 MiB, in a loop":
    "local s = string.rep('a', 2 ^ 22) while true do s = s:gsub('a', 'a') end",
  "a sort whose comparator throws, in a loop":
    "while true do local t = {} for i = 1, 1000 do t[i] = i end pcall(table.sort, t, function() error('no') end) end",
  "a coroutine resumed forever":
    "local co = coroutine.wrap(function() while true do coroutine.yield(1) end end) while true do co() end",
  "recursion past Lua's stack, caught, in a loop":
    "local function f(n) return f(n + 1) + 1 end while true do pcall(f, 0) end",
};

/**
 * Runs `fn` with wasmoon's one warning held back: after a stop that came
 * to a hard one (its grace spent in a long C function), the glue's own call
 * to build a traceback traps, and it warns. Any other warning fails.
 */
function quietly<T>(fn: () => T): T {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    assert.equal(args[0], "Failed to generate stack trace", String(args));
  };
  try {
    return fn();
  } finally {
    console.warn = warn;
  }
}

function run(lua: LuaEngine, code: string) {
  return () => lua.doStringSync(code);
}

/**
 * Runs `code` in `state` through its meter, and says whether Lua itself
 * unwound the stop: whether what the call threw is the error the count
 * hook raised (a stop that came to a hard one throws a trap).
 */
function stopRun(
  state: { lua: LuaEngine; meter: FuelMeter },
  code: string,
  options: MeterRunOptions,
  started = () => {},
): { result: CallOutcome; unwound: boolean } {
  let thrown: unknown;
  const result = quietly(() =>
    state.meter.run(() => {
      started();
      try {
        return state.lua.doStringSync(code);
      } catch (error) {
        thrown = error;
        throw error;
      }
    }, options)
  );
  const unwound = String((thrown as Error | undefined)?.message)
    .includes(HOOK_ERROR);
  return { result, unwound };
}

Deno.test("Lua (wasmoon): the same results metered and not, by every kind of meter", async () => {
  const want = (await plainLua()).doStringSync(PROGRAM);
  assert.equal(typeof want, "number");
  for (
    const meterOptions of [{}, { resumable: false }, { fuel: false as const }]
  ) {
    const { lua, meter } = await meteredLua({ meterOptions });
    // A trapping meter takes no deadline; the state is fresh and the
    // program ends.
    const options = meter.resumable ? CAP : {};
    const result = meter.run(run(lua, PROGRAM), options);
    assert.equal(
      expectOutcome(result, "returned").value,
      want,
      JSON.stringify(meterOptions),
    );
    if (meter.countsFuel) assert.ok(meter.consumed > 1_000_000);
  }
});

Deno.test("Lua: each runaway script stops at its deadline; a stop Lua unwound itself leaves the state sound, after a hard one a fresh instance on the same meter runs", async () => {
  const want = (await plainLua()).doStringSync(PROGRAM);
  let state = await meteredLua({ soft: true });
  for (const [name, code] of Object.entries(RUNAWAYS)) {
    const { result, unwound } = stopRun(state, code, {
      timeout: 30,
      soft: true,
    });
    assert.ok(isDeadlineExceeded(expectOutcome(result, "timeout").error), name);
    // A loop in Lua's VM that catches nothing hears the hook at once.
    if (code === SPIN) assert.ok(unwound, name);
    // A hard stop (a long C function, or a script that catches the hook's
    // error until the grace is spent) leaves the state mid-call.
    if (!unwound) state = await meteredLua({ meter: state.meter, soft: true });
    const after = state.meter.run(run(state.lua, PROGRAM), CAP);
    assert.equal(expectOutcome(after, "returned").value, want, name);
  }
});

Deno.test("Lua: each runaway script stops at its deadline in a deadline-only meter", async () => {
  for (const [name, code] of Object.entries(RUNAWAYS)) {
    const { lua, meter } = await meteredLua({ meterOptions: { fuel: false } });
    const stopped = expectOutcome(
      quietly(() => meter.run(run(lua, code), { timeout: 30 })),
      "timeout",
    );
    assert.ok(isDeadlineExceeded(stopped.error), name);
  }
});

Deno.test("Lua: a runaway script stopped by fuel and by a StopSignal from a Worker, each unwound by Lua itself", async () => {
  const state = await meteredLua({ soft: true });
  const fuel = stopRun(state, SPIN, { fuel: 5_000_000, soft: true });
  assert.ok(
    isFuelExhausted(expectOutcome(fuel.result, "fuel_exhausted").error),
  );
  assert.ok(fuel.unwound);
  const stopped = await stopFromWorker((stop, started) =>
    stopRun(state, SPIN, { stop, soft: true }, started)
  );
  assert.ok(isAborted(expectOutcome(stopped.result, "aborted").error));
  assert.ok(stopped.unwound);
  assert.equal(state.meter.stopReason, "stop");
  assert.equal(
    expectOutcome(
      state.meter.run(run(state.lua, "return 1 + 2"), CAP),
      "returned",
    )
      .value,
    3,
  );
});

Deno.test("Lua: 1,000 stops at fuel caps spread over a program, each unwound by Lua itself, leave the state sound; hard ones leave it unsound (Lua's count of C calls leaked, or its heap), and a fresh instance on the same meter goes on", async () => {
  const want = (await plainLua()).doStringSync(PROGRAM);
  // Caps from a thousandth of what a first run of the program took to
  // nine tenths: a run takes a few percent more or less than another
  // (Lua's collector), and the hook's calls are paid for too.
  const capsFor = (state: { lua: LuaEngine; meter: FuelMeter }) => {
    const first = state.meter.run(run(state.lua, PROGRAM), CAP);
    assert.equal(expectOutcome(first, "returned").value, want);
    const whole = state.meter.consumed;
    return (i: number) => Math.ceil(whole * ((i * 7_919) % 999 + 1) / 1_110);
  };
  const state = await meteredLua({ soft: true });
  let fuelAt = capsFor(state);
  // Grace enough for Lua to reach its hook from inside any C function.
  const soft = { soft: true, grace: 1_000_000_000 };
  for (let i = 0; i < 1_000; i++) {
    const { result, unwound } = stopRun(state, PROGRAM, {
      ...soft,
      fuel: fuelAt(i),
    });
    expectOutcome(result, "fuel_exhausted");
    assert.ok(unwound, `stop ${i}`);
  }
  const after = state.meter.run(run(state.lua, PROGRAM), CAP);
  assert.equal(expectOutcome(after, "returned").value, want);

  // A hard stop unwinds Lua's C calls without their ends, which keep a
  // count (LUAI_MAXCCALLS, 200): after about 190 of them, every run of the
  // program fails with Lua's own error, unless a stop inside a heap update
  // (where Lua's string hashing, seeded afresh in each state, puts them)
  // made one trap first.
  const hard = await meteredLua();
  fuelAt = capsFor(hard);
  // Each run ends by its fuel cap, or finds the state unsound: Lua's own
  // error, a trap where a stop left its heap half-updated, or (a state
  // that loops for good) the deadline.
  let unsound = 0;
  for (let i = 0; i < 300; i++) {
    const result = quietly(() =>
      hard.meter.run(run(hard.lua, PROGRAM), {
        fuel: fuelAt(i),
        timeout: 1_000,
      })
    );
    if (result.outcome === "fuel_exhausted") continue;
    if (result.outcome === "error") {
      // Lua's error for the leaked count, raised where the count passes
      // its limit: in a call ("C stack overflow") or while Lua handles an
      // error already ("error in error handling", met once beside busy
      // processes).
      assert.match(
        result.error.message,
        /C stack overflow|error in error handling/,
      );
    } else {
      assert.ok(
        result.outcome === "trap" || result.outcome === "timeout",
        `run ${i}: ${result.outcome}`,
      );
    }
    unsound++;
  }
  assert.ok(unsound > 0, "every run ended by its fuel cap");
  const before = hard.meter.consumed;
  hard.meter.setFuel(1e12);
  const fresh = await meteredLua({ meter: hard.meter });
  assert.equal(fresh.meter, hard.meter);
  const again = hard.meter.run(run(fresh.lua, PROGRAM), CAP);
  assert.equal(expectOutcome(again, "returned").value, want);
  assert.ok(hard.meter.consumed > before, "the books carry on");
});
