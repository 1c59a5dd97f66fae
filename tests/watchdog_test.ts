import assert from "./support/assert.ts";
import { StopSignal } from "../mod.ts";
import {
  arm,
  DEADLINE_SLOTS,
  lastDeadlineFired,
  settleWatchdog,
  startWatchdog,
  tick,
  watch,
  WATCH_POLL_MS,
  watchdogStarted,
} from "../src/watchdog/watchdog.ts";
import { flagGuest } from "./support/flag_guest.ts";
import { guardFlag } from "./support/flag_guard.ts";
import { GUARD_MS, runGuarded } from "./support/guarded.ts";
import { serveCheckout } from "./support/serve.ts";
import { RUNAWAY } from "./support/guests.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

function assertUnreachableTrap(error: unknown): void {
  assert.ok(error instanceof WebAssembly.RuntimeError, String(error));
  assert.match(error.message, /unreachable/);
}

function newFlag(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

/** Spins on this thread until `flag` is set, or the guard time passes. */
function spinUntilSet(flag: Int32Array): void {
  const limit = performance.now() + GUARD_MS;
  while (Atomics.load(flag, 0) === 0) {
    if (performance.now() > limit) throw new Error("the flag was never set");
  }
}

Deno.test("a deadline armed through the watchdog stops a synchronous spin on the main thread", async () => {
  let why = "";
  let deadline = Infinity;
  const started = performance.now();
  const guest = await flagGuest((flag) => {
    const now = performance.now();
    if (now >= deadline) why = "deadline";
    else if (now - started >= GUARD_MS) why = "guard";
    else {
      // Too early, as the real host would: go on, and be asked again.
      Atomics.store(flag, 0, 0);
      return 0;
    }
    return 1;
  });
  using _guard = await guardFlag(guest.flag);
  // Starting the thread blocks this one for some tens of milliseconds, once
  // per process: done first, so that the guest surely runs a while before
  // its deadline. (A thread started by a call that then keeps this thread
  // busy is the deno run tests below: the thread boots without it.)
  startWatchdog();
  assert.equal(watchdogStarted(), true);
  deadline = performance.now() + 20;
  const handle = arm(guest.flag, deadline);
  try {
    assertUnreachableTrap(guest.spin());
  } finally {
    handle.disarm();
  }
  assert.equal(why, "deadline");
  assert.ok(guest.turns() > 0);
});

Deno.test("a StopSignal set from another Worker stops a synchronous spin through the watchdog", async () => {
  const stop = new StopSignal();
  let why = "";
  const guest = await flagGuest(() => {
    why = stop.stopped ? "stop signal" : "guard";
    return 1;
  });
  using _guard = await guardFlag(guest.flag);
  const stopper = await stopFromAnotherThread(stop, { after: 20 });
  const handle = watch(stop, guest.flag);
  try {
    assertUnreachableTrap(guest.spin());
  } finally {
    handle.disarm();
    stopper.terminate();
  }
  assert.equal(why, "stop signal");
});

Deno.test("a host that answers 0 lets the guest go on; ticks come again", async () => {
  let ticks = 0;
  const guest = await flagGuest((flag) => {
    ticks++;
    if (ticks === 5) return 1;
    Atomics.store(flag, 0, 0);
    return 0;
  });
  using _guard = await guardFlag(guest.flag);
  const handle = tick(guest.flag, 1);
  try {
    assertUnreachableTrap(guest.spin());
  } finally {
    handle.disarm();
  }
  assert.equal(ticks, 5);
});

Deno.test("a disarmed deadline never fires; the one beside it does", () => {
  // Retried only when this thread stalled past the deadline before the
  // disarm, where the test would prove nothing.
  for (let trial = 0;; trial++) {
    const disarmed = newFlag();
    const control = newFlag();
    const deadline = performance.now() + 50;
    const first = arm(disarmed, deadline);
    const second = arm(control, deadline);
    first.disarm();
    if (performance.now() >= deadline && trial < 10) {
      second.disarm();
      continue;
    }
    try {
      spinUntilSet(control);
    } finally {
      second.disarm();
    }
    assert.equal(Atomics.load(disarmed, 0), 0);
    return;
  }
});

Deno.test("a deadline's flag cleared by the host is set again until disarmed", () => {
  const flag = newFlag();
  const handle = arm(flag, performance.now() + 5);
  try {
    spinUntilSet(flag);
    Atomics.store(flag, 0, 0);
    spinUntilSet(flag);
  } finally {
    handle.disarm();
  }
});

Deno.test("the time a deadline fired is its first setting of the flag, not a later one", () => {
  const flag = newFlag();
  const deadline = performance.now() + 5;
  const handle = arm(flag, deadline);
  try {
    spinUntilSet(flag);
    const first = lastDeadlineFired();
    assert.ok(first !== undefined);
    assert.equal(first.deadline, performance.timeOrigin + deadline);
    // Set again, at a later poll, after the host cleared it.
    Atomics.store(flag, 0, 0);
    spinUntilSet(flag);
    assert.deepEqual(lastDeadlineFired(), first);
  } finally {
    handle.disarm();
  }
});

Deno.test("a disarmed watch ignores its StopSignal; the one beside it does not", () => {
  const stop = new StopSignal();
  const disarmed = newFlag();
  const control = newFlag();
  const first = watch(stop, disarmed);
  const second = watch(stop, control);
  first.disarm();
  stop.stop();
  try {
    spinUntilSet(control);
  } finally {
    second.disarm();
  }
  assert.equal(Atomics.load(disarmed, 0), 0);
});

Deno.test("while a watched StopSignal stays set, a cleared flag is set again", () => {
  const stop = new StopSignal();
  const flag = newFlag();
  const handle = watch(stop, flag);
  try {
    stop.stop();
    spinUntilSet(flag);
    Atomics.store(flag, 0, 0);
    spinUntilSet(flag);
  } finally {
    handle.disarm();
  }
});

Deno.test("many arm and disarm cycles free their slots and leave no timer or op behind", () => {
  const stop = new StopSignal();
  for (let i = 0; i < 100; i++) {
    const flag = newFlag();
    const handles = [
      arm(flag, performance.now() + 3_600_000),
      watch(stop, flag),
      tick(flag, 1_000),
    ];
    for (const handle of handles) handle.disarm();
    handles[0].disarm(); // twice does nothing
  }
  const flag = newFlag();
  const outer = arm(flag, performance.now() + 3_600_000);
  for (let i = 0; i < 50; i++) arm(flag, performance.now()).disarm();
  outer.disarm();
  // Every slot is free again: as many deadlines as slots all take one and
  // fire (none needs a message).
  settleWatchdog(GUARD_MS);
  const flags = Array.from({ length: DEADLINE_SLOTS }, newFlag);
  const handles = flags.map((flag) => arm(flag, performance.now()));
  try {
    for (const flag of flags) spinUntilSet(flag);
    assert.ok(handles.every((handle) => handle.fired()));
  } finally {
    for (const handle of handles) handle.disarm();
  }
  // The sanitizers of this test then check that nothing is left pending.
});

Deno.test("once disarm returns, a fired deadline never sets its flag again", () => {
  // Keeps one Worker for all rounds.
  const keep = arm(newFlag(), performance.now() + 3_600_000);
  try {
    for (let i = 0; i < 100; i++) {
      const flag = newFlag();
      // Due at once: the thread sets the flag, again every poll, while
      // this thread disarms it.
      const handle = arm(flag, performance.now());
      spinUntilSet(flag);
      assert.equal(handle.fired(), true);
      handle.disarm();
      // Still true: whoever ends a guard asks after disarming it whether
      // the flag it finds set is the guard's, to clear it.
      assert.equal(handle.fired(), true);
      Atomics.store(flag, 0, 0);
      const until = performance.now() + 3 * WATCH_POLL_MS;
      while (performance.now() < until);
      assert.equal(Atomics.load(flag, 0), 0, `round ${i}`);
    }
  } finally {
    keep.disarm();
  }
});

Deno.test("a deadline not yet due has not fired", () => {
  const flag = newFlag();
  const handle = arm(flag, performance.now() + 3_600_000);
  try {
    assert.equal(handle.fired(), false);
    assert.equal(Atomics.load(flag, 0), 0);
  } finally {
    handle.disarm();
  }
});

Deno.test("more flags armed at once than there are slots all fire, and slots are bound anew", () => {
  const count = DEADLINE_SLOTS + 20;
  const flags = Array.from({ length: count }, newFlag);
  const deadline = performance.now() + 20;
  const handles = flags.map((flag) => arm(flag, deadline));
  try {
    for (const flag of flags) spinUntilSet(flag);
    assert.ok(handles.every((handle) => handle.fired()));
  } finally {
    for (const handle of handles) handle.disarm();
  }
  // The slots are all bound to those flags now: new flags take them over,
  // and the old ones are never set again (the deadlines that found no slot
  // went by message: once their disarms are received).
  settleWatchdog(GUARD_MS);
  for (const flag of flags) Atomics.store(flag, 0, 0);
  const fresh = Array.from({ length: count }, newFlag);
  const later = fresh.map((flag) => arm(flag, performance.now()));
  try {
    for (const flag of fresh) spinUntilSet(flag);
  } finally {
    for (const handle of later) handle.disarm();
  }
  assert.ok(flags.every((flag) => Atomics.load(flag, 0) === 0));
});

Deno.test("a StopSignal watched in a slot, disarmed, and then set, leaves the flag alone", () => {
  const flag = newFlag();
  const keep = arm(newFlag(), performance.now() + 3_600_000);
  try {
    for (let i = 0; i < 50; i++) {
      const stop = new StopSignal();
      watch(stop, flag).disarm();
      stop.stop();
      const until = performance.now() + 2 * WATCH_POLL_MS;
      while (performance.now() < until);
      assert.equal(Atomics.load(flag, 0), 0);
    }
  } finally {
    keep.disarm();
  }
});

Deno.test("a flag must be over shared memory, and a period positive", () => {
  assert.throws(
    () => arm(new Int32Array(1), 0),
    (e) => e instanceof TypeError && /SharedArrayBuffer/.test(e.message),
  );
  assert.throws(() => tick(newFlag(), 0), RangeError);
  assert.throws(() => arm(newFlag(), NaN), TypeError);
});

const EXITS = `
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const late = arm(flag, performance.now() + 3_600_000);
  const soon = arm(flag, performance.now() + 10);
  while (Atomics.load(flag, 0) === 0);
  soon.disarm();
  late.disarm();
  console.log("fired");
`;

Deno.test("deno run exits with the watchdog's thread still waiting, even after a deadline an hour away", async () => {
  const script = `import { arm } from ${
    JSON.stringify(new URL("../src/watchdog/watchdog.ts", import.meta.url).href)
  };\n${EXITS}`;
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(path, script);
    const run = await runGuarded(["run", "--no-prompt", "--allow-read", path]);
    assert.equal(run.stdout, "fired\n", run.stderr);
    assert.equal(run.code, 0);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("the watchdog runs when imported by http URL, with no more permissions", async () => {
  await using server = serveCheckout();
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      path,
      `const { arm } = await import(new URL("src/watchdog/watchdog.ts", Deno.args[0]).href);\n${EXITS}`,
    );
    const run = await runGuarded([
      "run",
      "--no-prompt",
      "--no-lock",
      `--allow-import=127.0.0.1:${server.port}`,
      path,
      server.url.href,
    ]);
    assert.equal(run.stdout, "fired\n", run.stderr);
    assert.equal(run.code, 0);
  } finally {
    await Deno.remove(path);
  }
});

const LOADS_AND_CALLS = `
  const guest = await loadGuest(${JSON.stringify(RUNAWAY.href)}, {
    interruptible: true,
  });
  const result = guest.invoke("spin", [], { timeout: 20 });
  console.log(result.outcome);
`;

Deno.test("deno run exits with code 0 once a script that loaded a stoppable guest and called it ends", async () => {
  const script = `import { loadGuest } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };\n${LOADS_AND_CALLS}`;
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(path, script);
    // A thread that kept the process alive would hang it until the guard.
    const run = await runGuarded(["run", "--no-prompt", "--allow-read", path]);
    assert.equal(run.stdout, "timeout\n", run.stderr);
    assert.equal(run.code, 0);
  } finally {
    await Deno.remove(path);
  }
});
