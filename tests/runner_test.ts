import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  type GuestTrap,
  HostImportError,
  Interrupted,
  isExportError,
  isGuestLoadError,
  isGuestTrap,
  isHostImportError,
  isImportError,
  isInterrupted,
  isInvalidModule,
  loadGuest,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { SEED } from "./support/guests.ts";

Deno.test("the seed guest is interrupted by env.interrupt_execution", async () => {
  const calls: unknown[][] = [];
  const guest = await loadGuest(SEED, {
    interrupt: { onCall: (args) => void calls.push(args) },
  });
  const result = expectOutcome(guest.invoke("exit_early"), "interrupted");
  assert.equal(calls.length, 1);
  assert.ok(isInterrupted(result.error));
  assert.ok(result.error instanceof Interrupted);
  assert.equal(result.error.importName, "env.interrupt_execution");
  assert.match(
    result.error.message,
    /interrupted by host import env\.interrupt_execution/,
  );
  assert.throws(() => guest.call("exit_early"), (e) => isInterrupted(e));
});

Deno.test("the interrupt carries the host's reason and code", async () => {
  const guest = await loadGuest(SEED, {
    interrupt: { onCall: () => ({ reason: "quota spent", code: "E_QUOTA" }) },
  });
  const { error } = expectOutcome(guest.invoke("exit_early"), "interrupted");
  assert.equal(error.reason, "quota spent");
  assert.equal(error.code, "E_QUOTA");
  assert.match(error.message, /quota spent/);
});

Deno.test("without the interrupt import, the guest's call is a missing import", async () => {
  await assert.rejects(
    loadGuest(SEED, { interrupt: false }),
    (e) =>
      isImportError(e) &&
      /env\.interrupt_execution is missing: expected function \(\) -> nil/.test(
        e.message,
      ),
  );
});

Deno.test("the interrupt import can be renamed, and a host import can interrupt too", async () => {
  const bytes = await assembleWat(`(module
    (import "host" "stop" (func $stop (param i32)))
    (import "host" "check" (func $check (param i32) (result i32)))
    (func (export "run") (param i32) (result i32)
      (drop (call $check (local.get 0)))
      (call $stop (i32.const 9))
      (i32.const 1)))`);
  const guest = await loadGuest(bytes, {
    interrupt: {
      module: "host",
      name: "stop",
      onCall: ([code]) => ({ code: code as number }),
    },
    imports: (host) => ({
      host: {
        check: (n: number) =>
          n > 100
            ? host.interrupt("host.check", { reason: `too big: ${n}` })
            : n,
      },
    }),
  });
  assert.equal(
    expectOutcome(guest.invoke("run", [1]), "interrupted").error.code,
    9,
  );
  const byHost = expectOutcome(guest.invoke("run", [101]), "interrupted").error;
  assert.equal(byHost.importName, "host.check");
  assert.equal(byHost.reason, "too big: 101");
});

Deno.test("after an interrupt the instance keeps what ran before the stop and can be called again", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "interrupt_execution" (func $stop))
    (memory (export "memory") 1)
    (global $g (export "g") (mut i32) (i32.const 0))
    (func (export "run") (param $stop i32) (result i32)
      (global.set $g (i32.const 1))
      (i32.store (i32.const 0) (i32.const 11))
      (if (local.get $stop) (then (call $stop)))
      (global.set $g (i32.const 2))
      (i32.store (i32.const 0) (i32.const 22))
      (i32.const 7)))`);
  const guest = await loadGuest(bytes);
  const exports = () =>
    guest.instance.exports as {
      g: WebAssembly.Global;
      memory: WebAssembly.Memory;
    };
  expectOutcome(guest.invoke("run", [1]), "interrupted");
  assert.equal(
    exports().g.value,
    1,
    "the write after the interrupt must not run",
  );
  assert.equal(new Int32Array(exports().memory.buffer)[0], 11);
  assert.equal(
    expectOutcome(guest.invoke("run", [0]), "returned").value,
    7,
    "the instance is reusable",
  );
  assert.equal(exports().g.value, 2);
  expectOutcome(guest.invoke("run", [1]), "interrupted");
  await guest.reinstantiate();
  assert.equal(exports().g.value, 0, "reinstantiate gives fresh state");
  assert.equal(new Int32Array(exports().memory.buffer)[0], 0);
});

const CATCHING_GUESTS: Record<string, string> = {
  "legacy try/catch_all": `(module
    (import "env" "interrupt_execution" (func $stop))
    (import "env" "log" (func $log (param i32)))
    (func (export "run") (result i32)
      (try (do (call $stop)) (catch_all))
      (call $log (i32.const 1))
      (i32.const 42)))`,
  "try_table catch_all": `(module
    (import "env" "interrupt_execution" (func $stop))
    (import "env" "log" (func $log (param i32)))
    (func (export "run") (result i32)
      (block $caught (try_table (catch_all $caught) (call $stop)))
      (call $log (i32.const 1))
      (i32.const 42)))`,
  "try_table catch_all_ref": `(module
    (import "env" "interrupt_execution" (func $stop))
    (import "env" "log" (func $log (param i32)))
    (func (export "run") (result i32)
      (block $caught (result exnref) (try_table (catch_all_ref $caught) (call $stop)) (ref.null exn))
      (drop)
      (call $log (i32.const 1))
      (i32.const 42)))`,
  "catch of WebAssembly.JSTag": `(module
    (import "env" "interrupt_execution" (func $stop))
    (import "env" "log" (func $log (param i32)))
    (import "env" "js_tag" (tag $js (param externref)))
    (func (export "run") (result i32)
      (block $caught (result externref) (try_table (catch $js $caught) (call $stop)) (ref.null extern))
      (drop)
      (call $log (i32.const 1))
      (i32.const 42)))`,
};

for (const [name, source] of Object.entries(CATCHING_GUESTS)) {
  Deno.test(`a guest that swallows the interrupt (${name}) is still reported as interrupted`, async () => {
    const logged: number[] = [];
    const jsTag = (WebAssembly as unknown as { JSTag: unknown }).JSTag;
    const guest = await loadGuest(await assembleWat(source), {
      imports: {
        env: {
          log: (n: number) => void logged.push(n),
          js_tag: jsTag as WebAssembly.ImportValue,
        },
      },
    });
    const result = expectOutcome(guest.invoke("run"), "interrupted");
    assert.ok(isInterrupted(result.error));
    assert.deepEqual(
      logged,
      [],
      "host imports refuse to run once the guest has been interrupted",
    );
  });
}

const TRAPS: [string, string, GuestTrap["trap"]][] = [
  ["unreachable", "(unreachable)", "unreachable"],
  [
    "out-of-bounds load",
    "(drop (i32.load (i32.const 70000)))",
    "memory_out_of_bounds",
  ],
  [
    "divide by zero",
    "(drop (i32.div_s (i32.const 1) (i32.const 0)))",
    "divide_by_zero",
  ],
  [
    "remainder by zero",
    "(drop (i32.rem_u (i32.const 1) (i32.const 0)))",
    "divide_by_zero",
  ],
  [
    "INT_MIN / -1",
    "(drop (i32.div_s (i32.const 0x80000000) (i32.const -1)))",
    "integer_overflow",
  ],
  [
    "bad float conversion",
    "(drop (i32.trunc_f32_s (f32.const nan)))",
    "invalid_conversion",
  ],
  ["null table slot", "(call_indirect (i32.const 0))", "null_function"],
  [
    "table index out of range",
    "(call_indirect (i32.const 5))",
    "table_out_of_bounds",
  ],
  ["stack overflow", "(call $recurse)", "stack_overflow"],
];

for (const [name, body, kind] of TRAPS) {
  Deno.test(`a guest trap is reported with its kind: ${name}`, async () => {
    const guest = await loadGuest(
      await assembleWat(`(module
      (memory 1) (table 2 funcref)
      (func $recurse (call $recurse))
      (func (export "run") ${body}))`),
    );
    const { error } = expectOutcome(guest.invoke("run"), "trap");
    assert.ok(isGuestTrap(error));
    assert.equal(error.trap, kind);
    assert.throws(
      () => guest.call("run"),
      (e) => isGuestTrap(e) && e.trap === kind,
    );
  });
}

Deno.test("an exception thrown by a host import is passed through with its cause intact", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "fail" (func $fail (param i32)))
    (func (export "run") (param i32) (call $fail (local.get 0))))`);
  const original = new TypeError("the host failed");
  const guest = await loadGuest(bytes, {
    imports: {
      env: {
        fail: (n: number) => {
          throw n === 0 ? original : n;
        },
      },
    },
  });
  const { error } = expectOutcome(guest.invoke("run", [0]), "error");
  assert.ok(isHostImportError(error));
  assert.ok(error instanceof HostImportError);
  assert.equal(error.importName, "env.fail");
  assert.equal(error.cause, original, "the very same object");
  assert.match(
    error.message,
    /host import env\.fail threw: TypeError: the host failed/,
  );
  const primitive = expectOutcome(guest.invoke("run", [42]), "error").error;
  assert.equal(primitive.cause, 42);
  assert.throws(
    () => guest.call("run", 0),
    (e) => isHostImportError(e) && e.cause === original,
  );
});

Deno.test("imports are checked by name, kind and expected type", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "f" (func (param i32 i64) (result f64)))
    (import "env" "mem" (memory 1 2))
    (import "env" "g" (global (mut i32))))`);
  await assert.rejects(
    loadGuest(bytes),
    (e) =>
      isImportError(e) && e.importName === "env.f" &&
      /env\.f is missing: expected function \(i32, i64\) -> f64/.test(
        e.message,
      ),
  );
  await assert.rejects(
    loadGuest(bytes, {
      imports: { env: { f: () => 0, mem: {} as WebAssembly.ImportValue } },
    }),
    (e) =>
      isImportError(e) &&
      /env\.mem is not a WebAssembly\.Memory: expected memory 1 2/.test(
        e.message,
      ),
  );
  await assert.rejects(
    loadGuest(bytes, {
      imports: {
        env: {
          f: () => 0,
          mem: new WebAssembly.Memory({ initial: 1, maximum: 2 }),
          g: 1,
        },
      },
    }),
    (e) =>
      isImportError(e) && e.importName === "env.g" &&
      /global \(mut i32\)/.test(e.message),
  );
});

Deno.test("a table import too small for the guest is named in the error", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "f" (func))
    (import "env" "t" (table 5 funcref)))`);
  const small = new WebAssembly.Table({ initial: 1, element: "anyfunc" });
  await assert.rejects(
    loadGuest(bytes, { imports: { env: { f: () => {}, t: small } } }),
    (e) =>
      isImportError(e) && e.importName === "env.t" &&
      /env\.t is unusable \(table import 1 is smaller than initial 5, got 1\): expected table 5 funcref/
        .test(e.message),
  );
});

Deno.test("missing exports, non-function exports and wrong arguments are ExportErrors", async () => {
  const guest = await loadGuest(
    await assembleWat(`(module
    (memory (export "memory") 1)
    (func (export "add") (param i32 i64) (result i64) (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1))))`),
  );
  assert.throws(
    () => guest.invoke("nope"),
    (e) => isExportError(e) && /no export named "nope".*add/.test(e.message),
  );
  assert.throws(
    () => guest.invoke("memory"),
    (e) => isExportError(e) && /is a memory, not a function/.test(e.message),
  );
  assert.throws(
    () => guest.invoke("add", [1]),
    (e) =>
      isExportError(e) &&
      e.message ===
        'export "add" takes 2 arguments (function (i32, i64) -> i64), got 1; ' +
          "give one for each parameter",
  );
  assert.throws(
    () => guest.invoke("add", [1, 2]),
    (e) => isExportError(e) && /BigInt/.test(e.message),
  );
  assert.equal(guest.call("add", 1, 2n), 3n);
});

Deno.test("guests load from a path, file URL, bytes, ArrayBuffer and a compiled module", async () => {
  const bytes = await Deno.readFile(SEED);
  const sources = [
    "guest/early_exit_guest.wasm",
    SEED,
    SEED.href,
    bytes,
    bytes.buffer,
    new WebAssembly.Module(bytes),
  ];
  for (const source of sources) {
    const guest = await loadGuest(source);
    expectOutcome(guest.invoke("exit_early"), "interrupted");
  }
});

Deno.test("unloadable guests give one branded error that says what to do", async () => {
  await assert.rejects(
    loadGuest("missing.wasm"),
    (e) =>
      isGuestLoadError(e) && e.reason === "not_found" &&
      /missing\.wasm/.test(e.message),
  );
  await assert.rejects(
    loadGuest("guest"),
    (e) => isGuestLoadError(e) && e.reason === "is_directory",
  );
  await assert.rejects(
    loadGuest(new TextEncoder().encode("hello")),
    (e) => isInvalidModule(e) && /does not start with \\0asm/.test(e.message),
  );
  await assert.rejects(
    loadGuest(new Uint8Array()),
    (e) =>
      isInvalidModule(e) && /is empty: expected a WebAssembly/.test(e.message),
  );
  await assert.rejects(
    loadGuest(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0])),
    (e) => isInvalidModule(e) && /component/.test(e.message),
  );
  await assert.rejects(
    loadGuest(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5])),
    (e) =>
      isInvalidModule(e) && /not a valid WebAssembly module/.test(e.message),
  );
  await assert.rejects(
    loadGuest("ftp://example.invalid/x.wasm"),
    (e) => isGuestLoadError(e) && /unsupported URL scheme/.test(e.message),
  );
});

Deno.test("a trap or interrupt in the start function fails the load with the branded error", async () => {
  const trapping = await assembleWat(
    `(module (func $s unreachable) (start $s))`,
  );
  await assert.rejects(
    loadGuest(trapping),
    (e) => isGuestTrap(e) && e.trap === "unreachable",
  );
  const stopping = await assembleWat(`(module
    (import "env" "interrupt_execution" (func $stop)) (start $stop))`);
  await assert.rejects(loadGuest(stopping), (e) => isInterrupted(e));
});
