/**
 * Two guests calling each other through their imports, 100 deep, each call
 * with a deadline of its own: every deadline and every enclosing one armed
 * on a nested call's flag is kept in a watchdog slot. None goes by message,
 * whose disarm each call's end would wait for, so that unwinding after a
 * stop does not grow by a thread's round trip per level. And two guests
 * calling each other, every call with one `StopSignal`: each call watches
 * it once on a flag, and asks it as often as calls nested in one guest
 * do, not once per enclosing call at every return; and a chain of async
 * calls of many guests, whose ends asked every call's stops on every
 * enclosing guest's flag that a tick had set.
 *
 * What the calls cost is counted as the host's asks of a call's stops
 * (`stopsAskedCount`), not timed: the host reads a StopSignal of its own
 * over the caller's buffer, so a caller's getter no longer sees them.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { type CallOutcome, type Guest, loadGuest, StopSignal } from "../mod.ts";
import { stopsAskedCount } from "../src/call/call_watch.ts";
import { messagesPosted } from "../src/watchdog/watchdog.ts";

const DEPTH = 100;
const INNER_TIMEOUT_MS = 2;

const PING = await assembleWat(`
(module
  (import "host" "next" (func $next (param i32)))
  (func (export "down") (param $depth i32)
    (if (i32.eqz (local.get $depth))
      (then (loop $again (br $again)))
      (else (call $next (i32.sub (local.get $depth) (i32.const 1)))))))
`);

/**
 * `rec(n)` returns n, calling the host's `again(n - 1)` on its way, which
 * calls one of the guests again.
 */
const REC = await assembleWat(`(module
  (import "env" "again" (func $again (param i32) (result i32)))
  (func (export "rec") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
      (else (i32.add (i32.const 1)
        (call $again (i32.sub (local.get $n) (i32.const 1))))))))`);

/**
 * Loads `guestCount` guests of `REC` (`async` ones, or plain), whose
 * import calls `rec(n)` of guest `n % guestCount`, every call with `stop`
 * and a deadline. Returns what calls `rec(depth)` of guest
 * `depth % guestCount` and says how many times the calls asked a call's
 * stops.
 */
async function nestedCalls(
  guestCount: number,
  stop: StopSignal,
  async = false,
): Promise<(depth: number) => Promise<number>> {
  const guests: Guest[] = [];
  const options = { stop, timeout: 600_000 };
  const call = (n: number) => {
    const guest = guests[n % guestCount];
    return async
      ? guest.invokeAsync("rec", [n], options)
      : guest.invoke("rec", [n], options);
  };
  const again = async (n: number) => {
    const outcome = await call(n);
    if (outcome.outcome !== "returned") throw outcome.error;
    return outcome.value as number;
  };
  const imports = {
    env: {
      // A plain guest's import returns its value, not a promise of it.
      again: async ? again : (n: number) => {
        const outcome = call(n) as CallOutcome;
        if (outcome.outcome !== "returned") throw outcome.error;
        return outcome.value as number;
      },
    },
  };
  for (let i = 0; i < guestCount; i++) {
    guests.push(await loadGuest(REC, { async, fuel: false, imports }));
  }
  return async (depth) => {
    const before = stopsAskedCount();
    assert.equal(await again(depth), depth);
    return stopsAskedCount() - before;
  };
}

/**
 * Descends `calls` to `depth` twice: the first binds each guest's flag to
 * the watchdog's slots it needs. Returns the messages the second posted.
 */
async function messagesOfSecondDescent(
  calls: (depth: number) => Promise<number>,
  depth: number,
): Promise<number> {
  await calls(depth);
  const posted = messagesPosted();
  await calls(depth);
  return messagesPosted() - posted;
}

Deno.test("calls nested between two guests, all with one StopSignal, ask it as often as calls nested in one guest do, and watch it once a flag", async () => {
  // Each call asked every enclosing call's StopSignal as it returned, and
  // each call of the other guest's enclosed it: 200 deep between two
  // guests read it 702,352 times (20,622 in one guest), and armed a watch
  // of it per enclosing call, past the watchdog's slots.
  const stop = new StopSignal();
  const inOne = await nestedCalls(1, stop);
  const betweenTwo = await nestedCalls(2, stop);
  for (const depth of [30, 60]) {
    const one = await inOne(depth);
    assert.equal(
      await messagesOfSecondDescent(betweenTwo, depth),
      0,
      `${depth} deep: messages posted`,
    );
    const two = await betweenTwo(depth);
    assert.ok(
      two <= one * 1.5,
      `${depth} deep: ${two} asks between two guests, ${one} in one`,
    );
  }
});

Deno.test("calls of one guest nested 300 deep, and of two guests calling each other, all with one StopSignal and a deadline, arm nothing twice: no message to the watchdog", async () => {
  // Each nested call armed its own deadline and StopSignal on the flag
  // again, though the call it was nested in had armed an earlier deadline
  // and the same StopSignal there: past the watchdog's 512 slots the rest
  // went by message, and 400 deep unwound 18 to 23 ms after a stop.
  for (const guestCount of [1, 2]) {
    const calls = await nestedCalls(guestCount, new StopSignal());
    assert.equal(
      await messagesOfSecondDescent(calls, 300),
      0,
      `${guestCount} guests: messages posted to the watchdog`,
    );
  }
});

Deno.test("a chain of plain calls of 60 guests, all with one StopSignal and a deadline, arms nothing twice: no message to the watchdog", async () => {
  // Each call armed its own deadline and StopSignal on the flag of every
  // guest it was made inside of, whose enclosing call had armed an earlier
  // deadline and the same StopSignal there already: 60 deep took 3,600
  // slots of the watchdog's 512, the rest by message.
  const depth = 60;
  const calls = await nestedCalls(depth + 1, new StopSignal());
  assert.equal(
    await messagesOfSecondDescent(calls, depth),
    0,
    "messages posted to the watchdog",
  );
});

Deno.test("a chain of async calls of 120 guests, all with one StopSignal and a deadline, asks the calls' stops a few times a call, not at every end on every enclosing flag", async () => {
  // Each call's end asked, on the flag of every guest it was made inside
  // of (set by their ticks), whether a stop of that guest's calls or of
  // any call armed there was due, and each of those asked every call
  // enclosing it: 6,400 asks for a chain 30 deep, 52,000 for 60, 8.5
  // million for 240 (3.8 s for 480 with deadlines alone, against 0.2 s
  // with no options). A call's end now asks only on a flag its own stop
  // may have set: about two asks a call, beside two busy processes too.
  const calls = await nestedCalls(121, new StopSignal(), true);
  for (const depth of [60, 120]) {
    const asks = await calls(depth);
    assert.ok(
      asks <= 10 * depth,
      `${depth} deep: ${asks} asks of the calls' stops`,
    );
  }
});

Deno.test(`two guests calling each other ${DEPTH} deep, each call with a deadline, post the watchdog no message, and the innermost deadline stops the whole chain`, async () => {
  const guests: Guest[] = [];
  let innermost = "";
  for (const side of [0, 1]) {
    guests.push(
      await loadGuest(PING, {
        interruptible: true,
        imports: {
          host: {
            next: (depth: number) => {
              const outcome = guests[1 - side].invoke("down", [depth], {
                timeout: depth === 0 ? INNER_TIMEOUT_MS : 60_000,
              });
              if (depth === 0) innermost = outcome.outcome;
              if (outcome.outcome !== "returned") throw outcome.error;
            },
          },
        },
      }),
    );
  }
  const descend = () => {
    innermost = "";
    const outcome = guests[0].invoke("down", [DEPTH], { timeout: 60_000 });
    assert.equal(innermost, "timeout");
    assert.equal(outcome.outcome, "error");
  };
  // The first descent binds each guest's flag to the slots it needs.
  descend();
  const posted = messagesPosted();
  descend();
  descend();
  assert.equal(messagesPosted() - posted, 0, "messages posted to the watchdog");
});
