import assert from "./support/assert.ts";
import {
  ExportError,
  GuestLoadError,
  isAborted,
  isDeadlineExceeded,
  runWasi,
  StopSignal,
} from "../mod.ts";
import { loadGuestWith } from "../src/load/load_guest.ts";
import { text, wasiGuest, wasiReactor } from "./support/wasi_guests.ts";
import { stopFromWorker } from "./support/worker_stop.ts";
import { wat } from "./support/instrument.ts";

/**
 * How long a sleeper sleeps: a run that slept on would take this long, and
 * print that it woke.
 */
const SLEEP_MS = 30_000;

// Far longer than any stop needs, the guest's load included, however busy
// the machine; far shorter than a sleeper sleeps.
const GUARD_MS = 15_000;

for (const name of ["hello", "hello_rust"]) {
  Deno.test(`${name}: arguments, environment and exit code`, async () => {
    const result = await runWasi(wasiGuest(name), {
      args: ["ada", "bob"],
      env: { GREETING: "hi", EXIT_CODE: "7" },
      stdout: "capture",
      stderr: "capture",
    });
    assert.equal(result.outcome, "exited");
    if (result.outcome === "exited") assert.equal(result.code, 7);
    assert.equal(text(result.stdout), "hi, ada!\nhi, bob!\n");
    assert.equal(text(result.stderr), "2 arguments\n");
    assert.ok(result.fuel !== undefined && result.fuel.consumed > 0);
  });
}

Deno.test("a command whose _start returns exits with 0", async () => {
  const result = await runWasi(wasiGuest("hello"), {
    stdout: "capture",
    stderr: "ignore",
  });
  assert.equal(result.outcome, "exited");
  if (result.outcome === "exited") assert.equal(result.code, 0);
  assert.equal(result.stderr, undefined);
});

Deno.test("captured output is capped, and what is dropped is counted", async () => {
  const result = await runWasi(wasiGuest("hello"), {
    args: ["ada", "bob"],
    stdout: "capture",
    stderr: "ignore",
    outputLimit: 5,
  });
  assert.equal(text(result.stdout), "hello");
  assert.equal(result.dropped.stdout, "hello, ada!\nhello, bob!\n".length - 5);
});

for (const name of ["sleep", "sleep_rust"]) {
  Deno.test(`${name}: a deadline stops a 30 s sleep in poll_oneoff`, async () => {
    const started = performance.now();
    const result = await runWasi(wasiGuest(name), {
      args: [String(SLEEP_MS)],
      timeout: 100,
      stdout: "capture",
    });
    assert.equal(result.outcome, "timeout");
    if (result.outcome === "timeout") {
      assert.ok(isDeadlineExceeded(result.error));
    }
    // It never woke: the deadline ended the sleep.
    assert.doesNotMatch(text(result.stdout), /woke/);
    assert.ok(performance.now() - started < GUARD_MS, "slept on");
  });
}

Deno.test("a StopSignal stops a sleep in poll_oneoff", async () => {
  const stop = new StopSignal();
  const timer = setTimeout(() => stop.stop("enough sleep"), 50);
  const started = performance.now();
  const result = await runWasi(wasiGuest("sleep_rust"), {
    args: [String(SLEEP_MS)],
    stop,
    stdout: "ignore",
  });
  clearTimeout(timer);
  assert.equal(result.outcome, "aborted");
  if (result.outcome === "aborted") {
    assert.match(result.error.message, /enough sleep/);
  }
  assert.ok(performance.now() - started < GUARD_MS, "slept on");
});

Deno.test("a StopSignal set on another thread stops a sleep", async () => {
  let started = 0;
  const result = await stopFromWorker((stop, running) => {
    running();
    started = performance.now();
    return runWasi(wasiGuest("sleep"), {
      args: [String(SLEEP_MS)],
      stop,
      stdout: "capture",
    });
  });
  const { outcome, stdout } = await result;
  assert.equal(outcome, "aborted");
  // It never woke: the stop ended the sleep (or came before it).
  assert.doesNotMatch(text(stdout), /woke/);
  assert.ok(performance.now() - started < GUARD_MS, "slept on");
});

Deno.test("a short sleep wakes and the command exits", async () => {
  const result = await runWasi(wasiGuest("sleep"), {
    args: ["20"],
    stdout: "capture",
  });
  assert.equal(result.outcome, "exited");
  assert.equal(text(result.stdout), "sleeping\nwoke\n");
});

Deno.test("an abort stops a read of an endless stdin stream", async () => {
  let cancelled = false;
  let pulls = 0;
  const controller = new AbortController();
  // With no queue, the stream is pulled only while the guest waits in a
  // read: the first gets a line, the second never gets anything, and is
  // when the abort comes.
  const stdin = new ReadableStream<Uint8Array>({
    pull(stream) {
      pulls++;
      if (pulls === 1) {
        stream.enqueue(new TextEncoder().encode("first chunk\n"));
        return;
      }
      setTimeout(() => controller.abort("Ctrl-C"), 0);
      return new Promise(() => {});
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  const result = await runWasi(wasiGuest("copy"), {
    args: ["-", "-"],
    stdin,
    signal: controller.signal,
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(pulls, 2);
  assert.equal(result.outcome, "aborted");
  if (result.outcome === "aborted") assert.ok(isAborted(result.error));
  assert.ok(cancelled, "the stream was not cancelled");
});

Deno.test("a stdin stream the guest did not read to the end is released", async () => {
  const stdin = new Blob(["not read\n"]).stream();
  const result = await runWasi(wasiGuest("hello"), {
    stdin,
    stdout: "ignore",
    stderr: "ignore",
  });
  assert.equal(result.outcome, "exited");
  assert.equal(await new Response(stdin).text(), "not read\n");
});

Deno.test("stdin bytes are copied to stdout", async () => {
  const result = await runWasi(wasiGuest("copy"), {
    args: ["-", "-"],
    stdin: new TextEncoder().encode("one\ntwo\n"),
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(result.outcome, "exited");
  assert.equal(text(result.stdout), "one\ntwo\n");
  assert.equal(text(result.stderr), "copied 8 bytes\n");
});

Deno.test("fuel stops the endless loop, and what it wrote is returned", async () => {
  const result = await runWasi(wasiGuest("loop"), {
    fuel: 1_000_000,
    stdout: "capture",
  });
  assert.equal(result.outcome, "fuel_exhausted");
  assert.equal(result.fuel!.consumed + result.fuel!.remaining, 1_000_000);
  assert.ok(result.fuel!.remaining < result.fuel!.consumed);
  assert.equal(text(result.stdout), "looping\n");
});

Deno.test("a deadline stops the endless loop", async () => {
  const result = await runWasi(wasiGuest("loop"), {
    timeout: 50,
    stdout: "ignore",
  });
  assert.equal(result.outcome, "timeout");
});

Deno.test("a module that is no command is refused", async () => {
  await assert.rejects(
    () => runWasi(new URL("../guest/compute.wasm", import.meta.url)),
    TypeError,
    "not a WASI command",
  );
});

Deno.test("a module whose _start takes parameters is refused as no command, in one line", async () => {
  const bytes = await wat(`(module
    (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
    (memory (export "memory") 1)
    (func (export "_start") (param i32)))`);
  await assert.rejects(
    () => runWasi(bytes),
    (error: Error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /not a WASI command: its _start takes/);
      assert.equal(error.message.split("\n").length, 1);
      return true;
    },
  );
});

Deno.test("a reactor is refused, and the error says it is one", async () => {
  await assert.rejects(
    async () => runWasi(await wasiReactor()),
    TypeError,
    "exports no _start function (it is a reactor, which runWasi does not run)",
  );
});

// A run with a deadline is an async guest with resumable fuel and a stop
// flag; one without runs as a plain call whose fuel traps. Both must count
// the same fuel, write the same output and end the same way.
const BOTH_WAYS: [string, string[], number | undefined][] = [
  ["hello", ["ada"], undefined],
  ["hello_rust", ["ada"], undefined],
  ["sieve", ["20000"], undefined],
  ["sleep", ["5"], undefined],
  ["loop", [], 1_000_000],
  ["sieve", ["20000"], 100_000],
];
for (const [name, args, fuel] of BOTH_WAYS) {
  Deno.test(
    `${name} ${args.join(" ")}${
      fuel === undefined ? "" : ` with ${fuel} fuel`
    }: a plain run and a run with a deadline count the same fuel`,
    async () => {
      const run = (timeout?: number) =>
        runWasi(wasiGuest(name), {
          args,
          fuel,
          timeout,
          env: { GREETING: "hi" },
          stdout: "capture",
          stderr: "capture",
        });
      const plain = await run();
      const watched = await run(60_000);
      assert.equal(plain.outcome, watched.outcome);
      assert.deepEqual(plain.fuel, watched.fuel);
      assert.equal(text(plain.stdout), text(watched.stdout));
      assert.equal(text(plain.stderr), text(watched.stderr));
      if (plain.outcome === "exited" && watched.outcome === "exited") {
        assert.equal(plain.code, watched.code);
      }
      assert.ok(plain.fuel!.consumed > 0);
    },
  );
}

Deno.test("a guest loaded as runWasi loads it: trapping fuel, yet stopped by its flag, with exact books", async () => {
  const runaway = new URL("../guest/runaway.wasm", import.meta.url);
  const guest = await loadGuestWith(runaway, { async: true, fuel: 1_000_000 }, {
    trappingFuel: true,
  });
  assert.equal(guest.meter?.resumable, false);
  const spent = await guest.invokeAsync("count_forever");
  assert.equal(spent.outcome, "fuel_exhausted");
  assert.equal(spent.fuel!.consumed + spent.fuel!.remaining, 1_000_000);
  guest.meter!.addFuel(1e15);
  const late = await guest.invokeAsync("spin", [], { timeout: 20 });
  assert.equal(late.outcome, "timeout");
  const stop = new StopSignal();
  stop.stop("enough");
  assert.equal(
    (await guest.invokeAsync("spin", [], { stop })).outcome,
    "aborted",
  );
  // A refuel hook it could never call is refused, not ignored.
  await assert.rejects(
    () => guest.invokeAsync("spin", [], { refuel: () => 1000 }),
    ExportError,
    "refuel",
  );
});

for (const timeout of [undefined, 60_000]) {
  Deno.test(
    `limits bound a command's memory (${
      timeout === undefined ? "plain" : "watched"
    }): its malloc fails past them, and a memory that starts above them is refused`,
    async () => {
      const sieve = (n: number, memory: number) =>
        runWasi(wasiGuest("sieve"), {
          args: [String(n)],
          limits: { memory },
          timeout,
          stdout: "capture",
        });
      // The sieve's calloc of 10 MB fails under a 4 MiB limit: it exits with 1.
      const big = await sieve(10_000_000, 4 << 20);
      assert.equal(big.outcome, "exited");
      if (big.outcome === "exited") assert.equal(big.code, 1);
      assert.equal(text(big.stdout), "");
      const small = await sieve(100_000, 4 << 20);
      assert.equal(small.outcome, "exited");
      if (small.outcome === "exited") assert.equal(small.code, 0);
      assert.match(text(small.stdout), /primes below 100000: 9592/);
      await assert.rejects(() => sieve(100, 0), GuestLoadError, "limits");
    },
  );
}
