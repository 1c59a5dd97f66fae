/**
 * A guest that calls itself back through a host import until the thread's
 * stack runs out, in a fresh process, where the runner's own functions are
 * still cold (each is compiled on its first use, on the stack the guest
 * filled): the stack overflows inside a nested call's bookkeeping. Then
 * the calls that come after, which must find every guest and meter as
 * though each call had ended by itself.
 *
 * Arguments: the mode (`deadline-only` or `fuel`), the shape (`same`: the
 * guest calls itself back; `cross`: two guests call each other back;
 * `meter`: the guest calls itself back after a run of a `FuelMeter`;
 * `deep` and `deep-async`: another guest, plain or async, recurses in its
 * own code and calls the guest from an import at every level;
 * `outermost`: the host recurses until the stack runs out, and on the way
 * back each level calls the guest, which recurses in its own code until it
 * overflows, until 20 of those calls reached it: calls that no call
 * encloses), and how many 8-byte
 * arguments each import adds to the stack (which moves where the stack runs
 * out). Prints `{ problems, storm }`: what went wrong after the overflow,
 * and how the outermost call ended (`outermost`: whether any of its calls
 * reached the guest's code).
 */
import {
  FuelMeter,
  type Guest,
  type GuestOptions,
  loadGuest,
  StopSignal,
} from "../../mod.ts";
import { assembleWat } from "../../guest/build.ts";

const [mode, shape, shiftArg] = Deno.args;
const counts = mode === "fuel";
const shift: unknown[] = new Array(Number(shiftArg)).fill(0);

/**
 * `rec(n)` calls `again(n - 1)` until 0; `busy(n)` adds n numbers; `self`
 * recurses in its own code for ever, saying so (`touch`) as it begins.
 */
const bytes = await assembleWat(`(module
  (import "env" "again" (func $again (param i32) (result i32)))
  (import "env" "touch" (func $touch))
  (func $self (export "self") (param $n i32) (result i32)
    (if (i32.eqz (local.get $n)) (then (call $touch)))
    (i32.add (i32.const 1)
      (call $self (i32.add (local.get $n) (i32.const 1)))))
  (func (export "rec") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
      (else (i32.add (i32.const 1)
        (call $again (i32.sub (local.get $n) (i32.const 1)))))))
  (func (export "busy") (param $n i32) (result i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
    (local.get $s)))`);

const loadOptions: GuestOptions = counts
  ? { fuel: 1e12, interruptible: true }
  : { fuel: false };
/** Set after the storm: a stale watch would stop later calls with it. */
const stop = new StopSignal();
const nestedOptions = counts
  ? { stop, timeout: 600_000, fuel: 1e11 }
  : { stop, timeout: 600_000 };

/** Passes the call on with `shift` more on the stack. */
function shifted(call: () => number): number {
  return Reflect.apply(() => call(), undefined, shift) as number;
}

function value(
  outcome: { outcome: string; value?: unknown },
  what: string,
): number {
  if (outcome.outcome !== "returned") {
    throw new Error(`${what}: ${outcome.outcome}`);
  }
  return outcome.value as number;
}

/** How deep the guest's calls go now, and went at most. */
let depth = 0;
let deepest = 0;
/** How deep a call runs the meter first: once a first storm found how deep the stack lets them go. */
let runsFrom = Infinity;

let guest: Guest;
let other: Guest | undefined;
let meter: FuelMeter | undefined;
let meterExports: Record<string, (n: number) => number> = {};
/** How many calls of `self` reached the guest's code. */
let reached = 0;
/** The meter's budget: what it has consumed and has left add up to it. */
const METER_FUEL = 1e12;

const guestImports = {
  env: {
    touch: () => void reached++,
    again: (n: number) =>
      shifted(() => {
        depth++;
        deepest = Math.max(deepest, depth);
        if (meter !== undefined && depth >= runsFrom) {
          // Runs of the meter as deep as the guest goes, cold: the stack
          // runs out in one's bookkeeping.
          try {
            meter.run(() => meterExports.busy(10), nestedOptions);
          } catch {
            // Its end was cut short: the call below ends it.
          }
        }
        try {
          const callee = other !== undefined && n % 2 === 1 ? other : guest;
          return value(
            callee.invoke("rec", [n], nestedOptions),
            "nested call",
          );
        } finally {
          depth--;
        }
      }),
  },
};
guest = await loadGuest(bytes, { ...loadOptions, imports: guestImports });
if (shape === "cross") {
  other = await loadGuest(bytes, { ...loadOptions, imports: guestImports });
}
if (shape === "meter") {
  meter = new FuelMeter(bytes, { fuel: counts ? METER_FUEL : false });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    env: { again: () => 0, touch: () => {} },
    ...meter.imports,
  });
  meter.attach(instance);
  meterExports = instance.exports as typeof meterExports;
}

if (meter !== undefined) {
  // A first storm, without runs of the meter, finds how deep the calls go.
  guest.invoke("rec", [1_000_000], { stop, timeout: 600_000 });
  guest = await loadGuest(bytes, { ...loadOptions, imports: guestImports });
  runsFrom = deepest - 8;
}

/** `rec(n)` calls `call(n)`, then itself with n - 1, in its own code. */
const deepBytes = await assembleWat(`(module
  (import "env" "call" (func $call (param i32) (result i32)))
  (func $rec (export "rec") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0))
      (else (i32.add (call $call (local.get $n))
        (call $rec (i32.sub (local.get $n) (i32.const 1))))))))`);
const deep = shape === "deep" || shape === "deep-async";
if (deep) {
  guest = await loadGuest(bytes, {
    ...loadOptions,
    imports: { env: { again: () => 0, touch: () => {} } },
  });
}
const caller = deep
  ? await loadGuest(deepBytes, {
    ...loadOptions,
    async: shape === "deep-async",
    imports: {
      env: {
        call: () =>
          shifted(() =>
            value(guest.invoke("busy", [1], nestedOptions), "nested call")
          ),
      },
    },
  })
  : guest;

const problems: string[] = [];
const before = guest.invoke("busy", [10]).fuel;
const stormOptions = { stop, timeout: 600_000 };
/** The host's own recursion, calling the guest on its way back up. */
function dive(): void {
  try {
    shifted(() => {
      dive();
      return 0;
    });
  } catch {
    // The stack ran out below: the calls begin from here up.
  }
  // From the deepest level up, until a few calls reached the guest's code.
  if (reached >= 20 || dived >= 5_000) return;
  dived++;
  try {
    guest.invoke("self", [0], stormOptions);
  } catch {
    // The stack ran out in the call's own bookkeeping, or before it.
  }
}
let dived = 0;
if (shape === "outermost") dive();
const storm = shape === "outermost"
  ? undefined
  : shape === "deep-async"
  ? await caller.invokeAsync("rec", [1_000_000], stormOptions)
  : caller.invoke("rec", [1_000_000], stormOptions);
stop.stop();

if (counts) {
  // Every unit the storm used is counted once, and the books are whole
  // (the storm's figures are the guest's own but in the deep shapes).
  const after = guest.invoke("busy", [1_000]).fuel!;
  const expected = before!.remaining - (storm?.fuel?.consumed ?? 0) -
    after.consumed;
  if (!deep && storm !== undefined && after.remaining !== expected) {
    problems.push(
      `the guest's fuel: ${after.remaining} left, ${expected} expected`,
    );
  }
  const fresh = await loadGuest(bytes, {
    ...loadOptions,
    imports: guestImports,
  });
  const reference = fresh.invoke("busy", [1_000]).fuel!.consumed;
  if (after.consumed !== reference) {
    problems.push(
      `a later call consumed ${after.consumed}, a fresh guest's ${reference}`,
    );
  }
  if (meter !== undefined) {
    const run = meter.run(() => meterExports.busy(1_000));
    if (run.fuel!.consumed !== reference) {
      problems.push(
        `a later run consumed ${run.fuel!.consumed}, not ${reference}`,
      );
    }
    if (meter.consumed + meter.remaining !== METER_FUEL) {
      problems.push(
        `the meter's books: ${meter.consumed} consumed and ${meter.remaining} left`,
      );
    }
  }
}

/** A later call of `target`, plain, with a deadline and with a StopSignal. */
function laterCalls(target: Guest, what: string): void {
  for (
    const options of [undefined, { timeout: 600_000 }, {
      stop: new StopSignal(),
    }]
  ) {
    const later = target.invoke("busy", [1_000], options);
    if (later.outcome !== "returned") {
      problems.push(
        `${what}, ${JSON.stringify(options)}: ${later.outcome} (${
          later.error?.message.slice(0, 120)
        })`,
      );
    }
  }
}
laterCalls(guest, "the guest's later call");
if (other !== undefined) laterCalls(other, "the other guest's later call");
if (meter !== undefined) {
  for (const options of [undefined, { timeout: 600_000 }]) {
    const later = meter.run(() => meterExports.busy(1_000), options);
    if (later.outcome !== "returned") {
      problems.push(`the meter's later run: ${later.outcome}`);
    }
  }
}

console.log(JSON.stringify({
  problems,
  storm: storm === undefined
    ? (reached > 0 ? "reached" : "never reached")
    : storm.outcome === "returned"
    ? "returned"
    : `${storm.outcome}: ${storm.error.name}`,
}));
