/**
 * An option nested in `runWasi`'s options (a preopen, `env`, `args`, a stdin
 * object, `limits`, a signal) that cannot be looked at, being a revoked
 * proxy, a proxy whose traps throw or an object whose getter throws, is one
 * line that names the option, as the options object itself is: never the
 * engine's `TypeError` nor the trap's own error.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  FuelMeter,
  invokeIsolated,
  loadGuest,
  runWasi,
  type WasiOptions,
} from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { attachedMeter } from "./support/attached_meter.ts";

const HELLO = new URL("../guest/wasi/hello.wasm", import.meta.url);
const RUNAWAY = new URL("../guest/runaway.wasm", import.meta.url);

/** Throws, as a trap or a getter may. */
function fail(): never {
  throw new Error("looked at");
}

/** Objects that cannot be looked at, each made afresh. */
const HOSTILE: [string, () => object][] = [
  ["a revoked proxy", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  }],
  ["a revoked proxy of an array", () => {
    const { proxy, revoke } = Proxy.revocable([], {});
    revoke();
    return proxy;
  }],
  [
    "a proxy whose traps throw",
    () =>
      new Proxy({}, {
        get: fail,
        has: fail,
        ownKeys: fail,
        getOwnPropertyDescriptor: fail,
        getPrototypeOf: fail,
      }),
  ],
  [
    "a proxy of an array whose traps throw",
    () => new Proxy([], { get: fail, ownKeys: fail, getPrototypeOf: fail }),
  ],
];

/** Where in runWasi's options a hostile object goes, and the option named. */
const PLACES: [string, (hostile: object) => WasiOptions][] = [
  ["runWasi's preopens", (h) => ({ preopens: h as never })],
  ["runWasi's preopens[0]", (h) => ({ preopens: [h as never] })],
  ["runWasi's env", (h) => ({ env: h as never })],
  ["runWasi's args", (h) => ({ args: h as never })],
  ["runWasi's stdin", (h) => ({ stdin: h as never })],
  ["runWasi: limits", (h) => ({ limits: h as never })],
  ["runWasi's signal", (h) => ({ signal: h as never })],
  ["runWasi's stop", (h) => ({ stop: h as never })],
  ["runWasi: cache", (h) => ({ cache: h as never })],
];

/** What a call threw (it must throw or reject). */
async function thrown(call: () => unknown, what: string): Promise<Error> {
  return await Promise.resolve().then(call).then(
    () => assert.fail(`${what} was taken`),
    (error) => error,
  );
}

/**
 * Asserts one line naming `option`, or a check's own message about it (an
 * object that is not an array, say, is refused as such without a look).
 */
function assertNames(error: Error, option: string, what: string): void {
  assert.ok(error instanceof TypeError, `${what}: ${error}`);
  assert.ok(!error.message.includes("\n"), `${what}: ${error.message}`);
  assert.ok(error.message.startsWith(option), `${what}: ${error.message}`);
  assert.match(
    error.message,
    / cannot be read \(a revoked proxy, or a getter or trap that throws\): .*; pass .+$| must be /,
    what,
  );
}

Deno.test("an option inside runWasi's options that cannot be looked at is one line naming it", async () => {
  let read = 0;
  for (const [option, place] of PLACES) {
    for (const [kind, make] of HOSTILE) {
      const what = `${kind} as ${option}`;
      const error = await thrown(
        () => runWasi(HELLO, { stdout: "ignore", ...place(make()) }),
        what,
      );
      assertNames(error, option, what);
      if (error.message.includes(" cannot be read ")) read++;
    }
  }
  // Most are refused for what a look threw, not for their shape.
  assert.ok(read >= PLACES.length * 2, `${read} refused as unreadable`);
});

Deno.test("a getter that throws, or a proxy of a built-in, inside runWasi's options is one line naming it", async () => {
  const getter = <T extends object>(target: T, key: string): T =>
    Object.defineProperty(target, key, { get: fail, enumerable: true });
  const cases: [string, WasiOptions][] = [
    ["runWasi's preopens[0]", {
      stdout: "ignore",
      preopens: [getter({}, "host") as never],
    }],
    ["runWasi's preopens", {
      stdout: "ignore",
      preopens: getter([], "0") as never,
    }],
    ["runWasi's args", { stdout: "ignore", args: getter([], "0") as never }],
    ["runWasi's env", { stdout: "ignore", env: getter({}, "HOME") as never }],
    ["runWasi: limits", {
      stdout: "ignore",
      limits: getter({}, "memory") as never,
    }],
    ["runWasi's args", getter({ stdout: "ignore" }, "args") as WasiOptions],
    [
      "runWasi's preopens",
      getter({ stdout: "ignore" }, "preopens") as WasiOptions,
    ],
    [
      "runWasi's stdin",
      { stdout: "ignore", stdin: new Proxy(new Uint8Array(4), { get: fail }) },
    ],
    [
      "runWasi's stdin",
      {
        stdout: "ignore",
        stdin: new Proxy(new ReadableStream(), { get: fail }),
      },
    ],
    [
      "runWasi's signal",
      {
        stdout: "ignore",
        signal: new Proxy(new AbortController().signal, { get: fail }),
      },
    ],
    [
      "runWasi: cache",
      {
        stdout: "ignore",
        cache: new Proxy(new URL("file:///nowhere/"), { get: fail }),
      },
    ],
  ];
  for (const [option, options] of cases) {
    // Not spread: that would call a getter on the options here.
    const error = await thrown(
      () => runWasi(HELLO, options),
      option,
    );
    assertNames(error, option, option);
    assert.match(error.message, / cannot be read /, option);
  }
});

Deno.test("a value that is an unreadable object is described, not turned into text", async () => {
  const revoked = () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy as never;
  };
  const cases: [string, WasiOptions][] = [
    ["runWasi's stdout", { stdout: revoked() }],
    ["runWasi's async", { async: revoked() }],
    ["runWasi's outputLimit", { outputLimit: revoked() }],
    ["runWasi's preopens[0].host", { preopens: [{ host: revoked() }] }],
    ["runWasi: limits.memory", { limits: { memory: revoked() } }],
  ];
  for (const [option, options] of cases) {
    const error = await thrown(
      () => runWasi(HELLO, { stdout: "ignore", ...options }),
      option,
    );
    assert.ok(error.message.startsWith(`${option} must be`), error.message);
    assert.match(error.message, /got an object$/, option);
  }
});

Deno.test("loadGuest's limits, stop and signal that cannot be looked at are one line naming them", async () => {
  const bytes = await Deno.readFile(RUNAWAY);
  for (const [kind, make] of HOSTILE) {
    for (
      const [option, options] of [
        ["loadGuest: limits", { limits: make() }],
        ["loadGuest's stop", { stop: make() }],
        ["loadGuest's signal", { signal: make() }],
      ] as const
    ) {
      const what = `${kind} as ${option}`;
      const error = await thrown(
        () => loadGuest(bytes, options as never),
        what,
      );
      assertNames(error, option, what);
    }
  }
});

Deno.test("runWasi reads each option once: what it checked is what it runs with", async () => {
  const reads: Record<string, number> = {};
  const counted = (name: string, value: unknown) => ({
    get() {
      reads[name] = (reads[name] ?? 0) + 1;
      return value;
    },
    enumerable: true,
  });
  const options = Object.defineProperties({}, {
    args: counted("args", ["once"]),
    env: counted("env", { A: "b" }),
    stdout: counted("stdout", "capture"),
    timeout: counted("timeout", 60_000),
  }) as WasiOptions;
  const result = await runWasi(HELLO, options);
  assert.equal(result.outcome, "exited");
  assert.equal(new TextDecoder().decode(result.stdout), "hello, once!\n");
  // Each once: the check of fuel, timeout and the signals that every entry
  // point shares looks at the options as read.
  assert.deepEqual(reads, { args: 1, env: 1, stdout: 1, timeout: 1 });
});

Deno.test("runWasi's limits are refused in runWasi's name", async () => {
  const error = await thrown(
    () => runWasi(HELLO, { stdout: "ignore", limits: { stack: 1 } as never }),
    "limits.stack",
  );
  assert.ok(error instanceof TypeError);
  assert.match(error.message, /^runWasi: limits\.stack is not a limit;/);
});

/**
 * Every entry point's options, each name found from the entry point's own
 * list (the message for an unknown option gives it), with a getter that
 * throws on that name alone.
 */
Deno.test("an option of any entry point whose getter throws is one line naming it, and nothing runs", async () => {
  const bytes = await Deno.readFile(RUNAWAY);
  const plain = await loadGuest(bytes, { interruptible: true });
  const async = await loadGuest(bytes, { async: true });
  const { meter } = await attachedMeter(bytes);
  const entries: [string, (options: object) => unknown][] = [
    ["loadGuest", (o) => loadGuest(bytes, o)],
    ["invoke", (o) => plain.invoke("ping", [1n], o)],
    ["invokeAsync", (o) => async.invokeAsync("ping", [1n], o)],
    ["new FuelMeter", (o) => new FuelMeter(bytes, o)],
    ["FuelMeter.run", (o) => meter.run(() => assert.fail("ran"), o)],
    ["invokeIsolated", (o) => invokeIsolated(bytes, "ping", [1n], o)],
    ["instrument", (o) => instrument(bytes, o)],
  ];
  for (const [where, call] of entries) {
    const listed = (await thrown(() => call({ unknown: 1 }), where)).message
      .match(/its options are: (.+)$/)?.[1];
    assert.ok(listed, `${where} lists no options`);
    const names = listed.split(", ");
    assert.ok(names.length >= 3, `${where}: ${listed}`);
    for (const name of names) {
      const options = Object.defineProperty({}, name, {
        get: fail,
        enumerable: true,
      });
      const what = `${where}'s ${name}`;
      const error = await thrown(() => call(options), what);
      // invokeIsolated looks at fuel, timeout and signal as a whole first.
      const option = where === "invokeIsolated" &&
          ["fuel", "timeout", "signal"].includes(name)
        ? "invokeIsolated's options"
        : what;
      assertNames(error, option, what);
      assert.match(error.message, / cannot be read /, what);
    }
  }
});

Deno.test("loadGuest reads each option once: what it checked is what it loads with", async () => {
  let reads = 0;
  const options = Object.defineProperty({}, "timeout", {
    get() {
      // A first look sees a deadline; a second would see none at all.
      return reads++ === 0 ? 60_000 : undefined;
    },
    enumerable: true,
  });
  const guest = await loadGuest(await Deno.readFile(RUNAWAY), options);
  assert.equal(reads, 1);
  // Loaded for the deadline it was given: its calls can be stopped.
  const result = guest.invoke("spin", [], { timeout: 50 });
  assert.equal(result.outcome, "timeout");
});
