import assert from "./support/assert.ts";
import {
  Aborted,
  DeadlineExceeded,
  type EarlyExitError,
  ERROR_CLASSES,
  ExportError,
  FuelExhausted,
  GuestLoadError,
  GuestTrap,
  HostImportError,
  ImportError,
  Interrupted,
  InvalidModule,
  isAborted,
  isDeadlineExceeded,
  OutOfMemory,
} from "../src/errors.ts";
import {
  fromWire,
  MAX_WIRE_TEXT,
  toWire,
} from "../src/isolate/isolate_wire.ts";
import { withoutStack } from "../src/early_exit_error.ts";
import {
  type CallOutcome,
  STOP_OUTCOMES,
  stoppedOutcome,
} from "../src/call/outcome.ts";

/** One error of every kind that ends a call, as the runner makes them. */
const STOPS: EarlyExitError[] = [
  new Interrupted("env.interrupt_execution", { reason: "quota", code: 7 }),
  new FuelExhausted(1_000, 998),
  new DeadlineExceeded(50, 50.4, {
    cause: new DOMException("Signal timed out.", "TimeoutError"),
  }),
  new Aborted("user pressed stop"),
  new GuestTrap("divide_by_zero", "divide by zero"),
  new HostImportError("env.log", new TypeError("bad input")),
  new OutOfMemory(64),
];

/** One error of every other kind, which the runner throws. */
const THROWN: EarlyExitError[] = [
  new InvalidModule("unknown opcode 0xff", { offset: 42 }),
  new GuestLoadError("not_found", "no such file: a.wasm", "check the path"),
  new ImportError("env.log", "function (i32) -> nil", "missing"),
  new ExportError("no export named run"),
];

/** What the child writes and the host reads: one JSON line. */
function overTheWire(result: unknown): CallOutcome {
  return fromWire(JSON.parse(JSON.stringify(toWire(result))));
}

function assertSameError(actual: unknown, expected: EarlyExitError): void {
  const type = ERROR_CLASSES[expected.kind];
  assert.ok(actual instanceof type, `${expected.kind} keeps its class`);
  const error = actual as EarlyExitError;
  assert.equal(error.kind, expected.kind);
  assert.equal(error.name, expected.name);
  assert.equal(error.message, expected.message);
  assert.deepEqual({ ...error }, { ...expected });
}

Deno.test("the samples cover every kind of error", () => {
  const kinds = [...STOPS, ...THROWN].map((error) => error.kind).sort();
  assert.deepEqual(kinds, Object.keys(ERROR_CLASSES).sort());
  assert.deepEqual(
    STOPS.map((error) => error.kind).sort(),
    Object.keys(STOP_OUTCOMES).sort(),
  );
});

Deno.test("every outcome of a stopped call crosses the wire as the same outcome and branded error", () => {
  for (const error of STOPS) {
    const sent = {
      ...stoppedOutcome("run", error)!,
      fuel: { consumed: 12, remaining: 34 },
    };
    const received = overTheWire(sent);
    assert.equal(received.outcome, sent.outcome, error.kind);
    assert.equal(received.export, "run");
    assert.deepEqual(received.fuel, sent.fuel);
    assert.ok("error" in received);
    assertSameError(received.error, error);
  }
});

Deno.test("a returned call crosses the wire with values JSON cannot hold", () => {
  const value = [1, -(2n ** 63n), NaN, -Infinity, undefined];
  const received = overTheWire({ outcome: "returned", export: "run", value });
  assert.equal(received.outcome, "returned");
  assert.deepEqual(received.outcome === "returned" && received.value, value);
  assert.equal(received.fuel, undefined);
});

Deno.test("what the runner throws crosses the wire and is thrown again", () => {
  for (const error of THROWN) {
    assert.throws(
      () => overTheWire(error),
      (thrown) => {
        assertSameError(thrown, error);
        return true;
      },
    );
  }
  assert.throws(() => overTheWire(new RangeError("no")), (thrown) => {
    assert.equal((thrown as Error).message, "no");
    return true;
  });
});

Deno.test("deadlines and aborts keep their cause across the wire", () => {
  const timeout = overTheWire(stoppedOutcome("run", STOPS[2])!);
  assert.ok(timeout.outcome === "timeout" && isDeadlineExceeded(timeout.error));
  const cause = timeout.error.cause as Error;
  assert.equal(cause.name, "TimeoutError");
  assert.equal(cause.message, "Signal timed out.");
  const aborted = overTheWire(stoppedOutcome("run", STOPS[3])!);
  assert.ok(aborted.outcome === "aborted" && isAborted(aborted.error));
  assert.equal(aborted.error.cause, "user pressed stop");
});

Deno.test("a cause JSON cannot hold crosses the wire as its text", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (
    const [cause, text] of [[cyclic, "[object Object]"], [
      Symbol("why"),
      "Symbol(why)",
    ]]
  ) {
    const sent = new HostImportError("env.log", cause);
    const received = overTheWire(stoppedOutcome("run", sent)!);
    assert.ok(received.outcome === "error");
    assert.equal(received.error.cause, text);
    assert.equal(received.error.message, sent.message);
  }
});

Deno.test("stops made as the runner makes them (without a stack) cross the wire with the same fields and cause", () => {
  const made: EarlyExitError[] = [
    withoutStack(() => new Interrupted("env.stop", { reason: "quota" })),
    withoutStack(() => new FuelExhausted(1_000, 998)),
    withoutStack(() => new Aborted("user pressed stop")),
  ];
  for (const error of made) {
    const received = overTheWire(stoppedOutcome("run", error)!);
    assert.ok("error" in received);
    const rebuilt = received.error as EarlyExitError;
    assert.ok(rebuilt instanceof ERROR_CLASSES[error.kind], error.kind);
    assert.equal(rebuilt.message, error.message);
    const { stack: _s, message: _m, cause: _c, ...fields } = { ...error };
    assert.deepEqual({ ...rebuilt }, fields, error.kind);
    assert.equal(rebuilt.cause, error.cause);
  }
});

Deno.test("a child's fields cannot replace a rebuilt error's prototype, class, kind or message", () => {
  const line = '{"type":"stopped","export":"run","error":{"kind":"GuestTrap",' +
    '"message":"unreachable","fields":{"__proto__":{"kind":"Aborted"},' +
    '"constructor":"Object","kind":"Aborted","name":"Aborted",' +
    '"message":"forged","stack":"forged","trap":"unreachable"}}}';
  const received = fromWire(JSON.parse(line));
  assert.ok("error" in received);
  assert.equal(received.outcome, "trap");
  const error = received.error as EarlyExitError;
  assert.ok(error instanceof GuestTrap);
  assert.equal(Object.getPrototypeOf(error), GuestTrap.prototype);
  assert.equal(error.constructor, GuestTrap);
  assert.equal(error.kind, "GuestTrap");
  assert.equal(error.name, "GuestTrap");
  assert.equal(error.message, "unreachable");
  assert.equal((error as unknown as { trap: string }).trap, "unreachable");
  assert.equal(isAborted(error), false);
});

Deno.test("a child's error whose fields are not an object is rebuilt without them", () => {
  const line = '{"type":"thrown","error":{"kind":"ExportError",' +
    '"message":"no export named run","fields":null}}';
  assert.throws(() => fromWire(JSON.parse(line)), ExportError, "no export");
});

Deno.test("value records a child did not encode stay the text they were", () => {
  const outcome = fromWire({
    type: "returned",
    export: "run",
    value: [{ $bigint: "12" }, { $bigint: "1e3" }, { $bigint: 5 }, {
      $number: "NaN",
    }],
  });
  assert.equal(outcome.outcome, "returned");
  const value = (outcome as { value: unknown[] }).value;
  assert.equal(value[0], 12n);
  assert.equal(value[1], "1e3");
  assert.deepEqual(value[2], { $bigint: 5 });
  assert.ok(Number.isNaN(value[3]));
});

Deno.test("an error's long texts are cut on the wire, their length said, so the answer stays readable", () => {
  const long = "x".repeat(MAX_WIRE_TEXT + 10);
  const stop = new Interrupted("env.stop", { reason: long, code: long });
  const thrown = new HostImportError("env.log", new Error(long));
  for (const error of [stop, thrown]) {
    const line = JSON.stringify(toWire(stoppedOutcome("run", error)));
    assert.ok(line.length < 4 * MAX_WIRE_TEXT, `${line.length} characters`);
    const back = fromWire(JSON.parse(line));
    assert.ok(back.outcome !== "returned");
    assert.equal(back.error.message, error.message);
  }
  const back = fromWire(JSON.parse(JSON.stringify(toWire(
    stoppedOutcome("run", stop),
  )))) as { error: Interrupted };
  const said = `… (${long.length} characters)`;
  assert.equal(back.error.reason, `${long.slice(0, MAX_WIRE_TEXT)}${said}`);
  assert.equal(back.error.code, back.error.reason);
  const cause = (fromWire(JSON.parse(JSON.stringify(toWire(
    stoppedOutcome("run", thrown),
  )))) as { error: HostImportError }).error.cause as Error;
  assert.equal(cause.message, `${long.slice(0, MAX_WIRE_TEXT)}${said}`);
});
