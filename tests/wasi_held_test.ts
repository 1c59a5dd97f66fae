/**
 * `runWasi`'s `async: false` with a deadline or a `StopSignal`: the guest
 * runs as a plain call that holds the thread, and is still stopped while it
 * computes and while it sleeps; what needs the event loop is refused.
 */
import assert from "./support/assert.ts";
import { isDeadlineExceeded, runWasi, StopSignal } from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { text, wasiGuest } from "./support/wasi_guests.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

// A hang guard, far longer than any stop needs and far shorter than the
// minute a sleeper sleeps.
const GUARD_MS = 50_000;

Deno.test("async: false: a deadline stops an endless loop", async () => {
  const result = await runWasi(wasiGuest("loop"), {
    timeout: 200,
    async: false,
    stdout: "capture",
  });
  assert.equal(result.outcome, "timeout");
  if (result.outcome === "timeout") {
    assert.ok(isDeadlineExceeded(result.error));
  }
  assert.equal(text(result.stdout), "looping\n");
});

Deno.test("async: false: a deadline ends a sleep in poll_oneoff", async () => {
  for (const name of ["sleep", "sleep_rust"]) {
    const started = performance.now();
    const result = await runWasi(wasiGuest(name), {
      args: ["60000"],
      timeout: 1_000,
      async: false,
      stdout: "capture",
    });
    assert.equal(result.outcome, "timeout", name);
    assert.doesNotMatch(text(result.stdout), /woke/);
    assert.ok(performance.now() - started < GUARD_MS, "slept on");
  }
});

Deno.test("async: false: a short sleep wakes and the command exits", async () => {
  const result = await runWasi(wasiGuest("sleep"), {
    args: ["20"],
    timeout: 60_000,
    async: false,
    stdout: "capture",
  });
  assert.equal(result.outcome, "exited");
  assert.equal(text(result.stdout), "sleeping\nwoke\n");
});

/** Runs `call` while a Worker sets `stop` after `after` milliseconds. */
async function stoppedAfter<T>(
  after: number,
  call: (stop: StopSignal) => Promise<T>,
): Promise<T> {
  const stop = new StopSignal();
  const stopper = await stopFromAnotherThread(stop, { after });
  try {
    const result = await call(stop);
    await stopper.stopped;
    return result;
  } finally {
    stopper.terminate();
  }
}

Deno.test("async: false: a StopSignal set by another thread stops a sleep and a loop", async () => {
  for (const [name, args] of [["sleep", ["60000"]], ["loop", []]] as const) {
    const started = performance.now();
    const result = await stoppedAfter(300, (stop) =>
      runWasi(wasiGuest(name), {
        args: [...args],
        stop,
        async: false,
        stdout: "capture",
      }));
    assert.equal(result.outcome, "aborted", name);
    assert.doesNotMatch(text(result.stdout), /woke/);
    assert.ok(performance.now() - started < GUARD_MS, "ran on");
  }
});

Deno.test("async: false: the fuel budget still stops the guest", async () => {
  const result = await runWasi(wasiGuest("loop"), {
    timeout: 60_000,
    fuel: 100_000,
    async: false,
    stdout: "ignore",
  });
  assert.equal(result.outcome, "fuel_exhausted");
});

Deno.test("async: false: a guest that catches the stop of its sleep is stopped by its next check", async () => {
  // Sleeps a minute, again and again, swallowing whatever its sleep throws.
  const bytes = await assembleWat(`(module
    (import "wasi_snapshot_preview1" "poll_oneoff"
      (func $poll (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      ;; One relative clock subscription of a minute, at 0.
      (i32.store8 (i32.const 8) (i32.const 0))
      (i32.store (i32.const 16) (i32.const 1))
      (i64.store (i32.const 24) (i64.const 60000000000))
      (loop $again
        (try (do (drop (call $poll (i32.const 0) (i32.const 64)
                                   (i32.const 1) (i32.const 128))))
             (catch_all))
        (br $again))))`);
  const started = performance.now();
  const result = await runWasi(bytes, { timeout: 300, async: false });
  assert.equal(result.outcome, "timeout");
  assert.ok(performance.now() - started < GUARD_MS, "slept on");
});

Deno.test("async: false is refused with what needs the event loop, in one line", async () => {
  const cases: [Parameters<typeof runWasi>[1], RegExp][] = [
    [{ signal: new AbortController().signal }, /AbortSignal/],
    [{ stdin: new ReadableStream() }, /stdin stream/],
    [{ stdin: "inherit", timeout: 100 }, /stdin: "inherit" and a timeout/],
    [{ stdin: "inherit", stop: new StopSignal() }, /and a StopSignal/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(
      () => runWasi(wasiGuest("hello"), { ...options, async: false }),
      (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, message);
        assert.match(error.message, /async: false/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
    );
  }
  await assert.rejects(
    () =>
      runWasi(wasiGuest("hello"), {
        async: "no" as unknown as boolean,
      }),
    TypeError,
    "async must be true or false",
  );
});

Deno.test("async: false without a stop, and async: true without one, both run the command", async () => {
  for (const async of [false, true]) {
    const result = await runWasi(wasiGuest("hello"), {
      args: ["ada"],
      async,
      stdout: "capture",
      stderr: "ignore",
    });
    assert.equal(result.outcome, "exited");
    assert.equal(text(result.stdout), "hello, ada!\n");
  }
});

Deno.test("async: false with inherited stdin and no stop reads it on the spot", async () => {
  // No stop could be outlasted, so this is allowed: a plain call, as
  // without async.
  const result = await runWasi(wasiGuest("hello"), {
    async: false,
    stdin: "inherit",
    stdout: "capture",
    stderr: "ignore",
  });
  assert.equal(result.outcome, "exited");
});

Deno.test("async: false: a StopSignal another thread sets with a plain store, without stop(), still ends a sleep", async () => {
  const stop = new StopSignal();
  const source = `onmessage = (event) => setTimeout(() => {
    Atomics.store(new Int32Array(event.data), 0, 1);
    postMessage("set");
  }, 300);`;
  const worker = new Worker(
    `data:text/javascript,${encodeURIComponent(source)}`,
    { type: "module" },
  );
  const set = new Promise((resolve) => (worker.onmessage = resolve));
  try {
    worker.postMessage(stop.buffer);
    const started = performance.now();
    const result = await runWasi(wasiGuest("sleep"), {
      args: ["60000"],
      stop,
      async: false,
      stdout: "capture",
    });
    await set;
    assert.equal(result.outcome, "aborted");
    assert.ok(performance.now() - started < GUARD_MS, "ran on");
  } finally {
    worker.terminate();
  }
});
