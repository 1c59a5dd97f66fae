import { findNpmFile } from "./support/npm.ts";
import assert from "./support/assert.ts";
import wabtInit from "wabt";
import { isInvalidModule } from "../src/errors.ts";
import { instrument, type InstrumentOptions } from "../src/wasm/mod.ts";
import { paddingFunctions } from "../src/wasm/padding.ts";
import { Reader } from "../src/wasm/reader.ts";

// ---------------------------------------------------------------------------
// Helpers

const FEATURES = {
  exceptions: true,
  simd: true,
  threads: true,
  multi_memory: true,
  memory64: true,
  tail_call: true,
  gc: true,
  function_references: true,
  extended_const: true,
  relaxed_simd: true,
  bulk_memory: true,
  reference_types: true,
  multi_value: true,
  sat_float_to_int: true,
  sign_extension: true,
  mutable_globals: true,
};

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabtInstance: Wabt | undefined;
async function wabt(): Promise<Wabt> {
  wabtInstance ??= await wabtInit();
  return wabtInstance;
}

/** Module bytes that the WebAssembly API accepts. */
type Bytes = Uint8Array<ArrayBuffer>;

/** wabt's `validate` takes the features again, though its types omit them. */
function validateWat(module: ReturnType<Wabt["parseWat"]>): void {
  (module.validate as (features: typeof FEATURES) => void)(FEATURES);
}

/** Assembles WAT with wabt, name section included. */
async function wat(source: string): Promise<Bytes> {
  const module = (await wabt()).parseWat("test.wat", source, FEATURES);
  try {
    validateWat(module);
    return module.toBinary({ write_debug_names: true }).buffer as Bytes;
  } finally {
    module.destroy();
  }
}

/** Disassembles a module to text, with wabt. */
async function disassemble(bytes: Bytes): Promise<string> {
  const module = (await wabt()).readWasm(bytes, FEATURES);
  try {
    return module.toText({});
  } finally {
    module.destroy();
  }
}

/** Assembles WAT with binaryen, for what wabt cannot parse (GC, call_ref). */
async function watBinaryen(source: string): Promise<Bytes> {
  const binaryen = (await import("binaryen")).default;
  const module = binaryen.parseText(source);
  try {
    module.setFeatures(binaryen.Features.All);
    assert.ok(module.validate(), "binaryen rejected the test module");
    return module.emitBinary() as Bytes;
  } finally {
    module.dispose();
  }
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

function section(id: number, content: number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

/** The magic number and version 1. */
const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** A module of the preamble and then `sections`, as they are. */
function moduleOf(...sections: number[][]): Bytes {
  return new Uint8Array([...PREAMBLE, ...sections.flat()]);
}

/** A module with one `() -> ()` function whose body is `code` (plus `end`). */
function moduleWithBody(code: number[], extra: number[][] = []): Bytes {
  const body = [0x00, ...code, 0x0b];
  return moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x01, 0x00]),
    ...extra,
    section(10, [0x01, ...leb(body.length), ...body]),
  );
}

interface Metered {
  instance: WebAssembly.Instance;
  exports: Record<string, unknown>;
  fuel: WebAssembly.Global;
  /** Fuel used so far: what the host granted minus what is left. */
  used(): bigint;
  /** Arguments of every `out_of_fuel` call. */
  calls: Array<[bigint, bigint]>;
}

/**
 * Instruments and instantiates `bytes` with a host that grants fuel in
 * chunks of `grant` (always enough for the cost asked).
 */
async function meter(
  bytes: Bytes,
  options: InstrumentOptions & {
    grant?: bigint;
    imports?: WebAssembly.Imports;
    onOutOfFuel?: (counter: bigint, cost: bigint) => bigint | undefined;
  } = {},
): Promise<Metered> {
  const metered = instrument(bytes, options);
  assert.ok(WebAssembly.validate(metered.bytes), "the output must validate");
  const grant = options.grant ?? 1n << 40n;
  let granted = 0n;
  const calls: Array<[bigint, bigint]> = [];
  const imports: WebAssembly.Imports = {
    ...options.imports,
    [metered.importModule]: {
      [metered.importName]: (counter: bigint, cost: bigint) => {
        calls.push([counter, cost]);
        const custom = options.onOutOfFuel?.(counter, cost);
        if (custom !== undefined) return custom;
        const needed = -counter;
        const amount = needed > grant ? needed : grant;
        granted += amount;
        return counter + amount;
      },
    },
  };
  const { instance } = await WebAssembly.instantiate(metered.bytes, imports);
  const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
  return {
    instance,
    exports: instance.exports as Record<string, unknown>,
    fuel,
    used: () => granted - (fuel.value as bigint),
    calls,
  };
}

type Fn = (...args: unknown[]) => unknown;

/** Runs `fn` and returns how much fuel it used. */
function cost(m: Metered, name: string, ...args: unknown[]): bigint {
  const before = m.used();
  (m.exports[name] as Fn)(...args);
  return m.used() - before;
}

/**
 * Checks that `bytes` behaves the same instrumented: each call returns the
 * same value (or throws the same kind of error) on both.
 */
async function assertSameBehaviour(
  bytes: Bytes,
  calls: Array<[string, ...unknown[]]>,
  imports: () => WebAssembly.Imports = () => ({}),
): Promise<void> {
  assert.ok(WebAssembly.validate(bytes), "the input must validate");
  const original = await WebAssembly.instantiate(bytes, imports());
  const metered = await meter(bytes, { imports: imports() });
  const run = (exports: WebAssembly.Exports, [name, ...args]: [
    string,
    ...unknown[],
  ]) => {
    try {
      return { value: (exports[name] as Fn)(...args) };
    } catch (error) {
      return { error: (error as Error).constructor.name };
    }
  };
  for (const call of calls) {
    assert.deepEqual(
      run(metered.instance.exports, call),
      run(original.instance.exports, call),
      `${call[0]}(${call.slice(1).join(", ")})`,
    );
  }
  assert.ok(metered.used() > 0n, "the guest must have used fuel");
}

function assertInvalid(bytes: Uint8Array, message?: RegExp): void {
  try {
    instrument(bytes);
  } catch (error) {
    assert.ok(isInvalidModule(error), `not an InvalidModule: ${error}`);
    assert.equal(typeof error.offset, "number");
    if (message) assert.match(error.message, message);
    return;
  }
  assert.fail("instrument() accepted a malformed module");
}

// ---------------------------------------------------------------------------
// (a) Exact fuel counts

Deno.test("instrument() charges a straight-line function its operator count", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "f") (result i32)
        i32.const 1 i32.const 2 i32.add i32.const 3 i32.mul drop i32.const 0))`),
  );
  assert.equal(cost(m, "f"), 6n); // drop is free
  // The first check asked for exactly that and found the counter at 0.
  assert.deepEqual(m.calls[0], [-6n, 6n]);
});

Deno.test("instrument() charges only the arm of an if that runs", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "f") (param i32) (result i32)
        local.get 0
        if (result i32)
          i32.const 10
        else
          i32.const 20 i32.const 1 i32.add
        end))`),
  );
  // local.get + if = 2; then: i32.const = 1; else: three operators = 3.
  assert.equal(cost(m, "f", 1), 3n);
  assert.equal(cost(m, "f", 0), 5n);
});

Deno.test("instrument() charges a loop of n iterations 5n", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "run") (param $n i32)
        (loop $again
          (br_if $again
            (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`),
  );
  for (const n of [1, 2, 10, 1000]) {
    assert.equal(cost(m, "run", n), BigInt(5 * n));
  }
});

Deno.test("instrument() charges recursion per call", async () => {
  const m = await meter(
    await wat(`(module
      (func $fac (export "fac") (param i64) (result i64)
        local.get 0
        i64.eqz
        if (result i64)
          i64.const 1
        else
          local.get 0
          local.get 0
          i64.const 1
          i64.sub
          call $fac
          i64.mul
        end))`),
  );
  // fac(0) = 3 + 1; fac(n) = 3 + 6 + fac(n - 1).
  assert.equal(cost(m, "fac", 0n), 4n);
  assert.equal(cost(m, "fac", 5n), 5n * 9n + 4n);
  assert.equal((m.exports.fac as Fn)(10n), 3628800n);
});

/**
 * A self-recursive function (which gets a register copy) and its twin, the
 * same body split over two functions that call each other (which gets
 * none): params and locals, a loop, a call out, a load and a division that
 * can trap, `return` and `br` out of the function with two results.
 */
function recursive(self: boolean): string {
  const body = (name: string, callee: string) => `
    (func ${name} (param $n i32) (param $k i32) (result i32 i64)
      (local $i i32) (local $acc i64)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (block $done
        (loop $again
          (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
          (local.set $acc
            (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $again)))
      (if (i32.eqz (local.get $n))
        (then (return (i32.const 0) (local.get $acc))))
      (local.set $acc (i64.add (local.get $acc)
        (i64.load32_u (i32.shl (global.get $depth) (i32.const 12)))))
      (drop (i32.div_u (i32.const 1) (i32.sub (local.get $k) (i32.const 7))))
      (if (i32.eq (local.get $n) (i32.const 1))
        (then (br 1 (i32.const 1) (local.get $acc))))
      (call ${callee} (i32.sub (local.get $n) (i32.const 1))
        (i32.rem_u (call $helper (local.get $k)) (i32.const 6)))
      local.get $acc
      i64.add)`;
  return `(module
    (memory 1)
    (global $depth (export "depth") (mut i32) (i32.const 0))
    (func $helper (param i32) (result i32)
      (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 1)))
    ${body('$f (export "f")', self ? "$f" : "$g")}
    ${self ? "" : body("$g", "$f")})`;
}

/**
 * Asserts that a module whose `f` recurses directly (so it gets a register
 * copy) counts like its twin (which does not): for every case, every budget
 * up to the whole cost ends alike with trapping checks, and resumable checks
 * make the same requests.
 */
async function assertCountsLikeTwin(
  self: Bytes,
  twin: Bytes,
  cases: Array<[number, number]>,
): Promise<void> {
  for (const [n, k] of cases) {
    let budget = 0n;
    for (;; budget += 3n) {
      const results = [self, twin].map((bytes) => {
        const metered = instrument(bytes, {
          resumable: false,
          initialFuel: budget,
        });
        const { exports } = new WebAssembly.Instance(
          new WebAssembly.Module(metered.bytes as Bytes),
          { [metered.importModule]: { [metered.importName]: () => 0n } },
        );
        let outcome: unknown;
        try {
          outcome = (exports.f as Fn)(n, k);
        } catch (error) {
          outcome = (error as Error).message;
        }
        const fuel = exports[metered.fuelExport] as WebAssembly.Global;
        return { outcome, fuel: fuel.value, depth: exports.depth };
      });
      assert.deepEqual(results[0], results[1], `f(${n}, ${k}), ${budget}`);
      if ((results[0]!.fuel as bigint) >= 0n) break;
    }
    assert.ok(budget > 0n);
  }
  for (const [n, k] of cases) {
    const runs = await Promise.all(
      [self, twin].map(async (bytes) => {
        const m = await meter(bytes, { grant: 5n });
        let outcome: unknown;
        try {
          outcome = (m.exports.f as Fn)(n, k);
        } catch (error) {
          outcome = (error as Error).message;
        }
        return { outcome, used: m.used(), calls: m.calls };
      }),
    );
    assert.deepEqual(runs[0], runs[1], `f(${n}, ${k}) resumable`);
  }
}

Deno.test("instrument() counts a self-recursive function like its mutual twin", async () => {
  await assertCountsLikeTwin(
    await wat(recursive(true)),
    await wat(recursive(false)),
    [
      [0, 3],
      [1, 2],
      [6, 4],
      [9, 5],
      [20, 2], // traps on the load at depth 16
      [3, 7], // traps on the division at once
    ],
  );
});

/**
 * A function that calls itself twice, so its copy inlines it twice and
 * runs the inlined body more than once per frame; its locals of every
 * number type must start at zero each time.
 */
function branching(self: boolean): string {
  const body = (name: string, callee: string) => `
    (func ${name} (param $n i32) (param $k i32) (result i32)
      (local $i i32) (local $a i64) (local $b f32) (local $c f64)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (loop $again
        (local.set $a (i64.add (local.get $a) (i64.extend_i32_u (local.get $k))))
        (local.set $b (f32.add (local.get $b) (f32.const 0.5)))
        (local.set $c (f64.add (local.get $c) (f64.const 0.25)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const 3))))
      (local.set $i (i32.add (i32.wrap_i64 (local.get $a))
        (i32.add (i32.trunc_f32_u (local.get $b)) (i32.trunc_f64_u (local.get $c)))))
      (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
        (then (local.get $i))
        (else
          (i32.add (local.get $i)
            (i32.add
              (call ${callee} (i32.sub (local.get $n) (i32.const 1)) (local.get $k))
              (call ${callee} (i32.sub (local.get $n) (i32.const 2))
                (i32.add (local.get $k) (i32.const 1))))))))`;
  return `(module
    (global $depth (export "depth") (mut i32) (i32.const 0))
    ${body('$f (export "f")', self ? "$f" : "$g")}
    ${self ? "" : body("$g", "$f")})`;
}

Deno.test("instrument() counts a function inlined into its own copy like its twin", async () => {
  const self = await wat(branching(true));
  const twin = await wat(branching(false));
  const plain = new WebAssembly.Instance(new WebAssembly.Module(self)).exports;
  const m = await meter(self);
  for (const [n, k] of [[0, 1], [5, 2], [12, 3]]) {
    assert.equal((m.exports.f as Fn)(n, k), (plain.f as Fn)(n, k));
  }
  // Both calls were inlined, each as a block typed like the function.
  const text = await disassemble(instrument(self).bytes as Bytes);
  assert.equal(
    text.match(/ block \(param i32 i32\) \(result i32\)/g)?.length,
    2,
    text,
  );
  await assertCountsLikeTwin(self, twin, [[0, 1], [1, 2], [4, 3], [7, 1]]);
});

Deno.test("instrument() copies a self-recursive body whose blocks have reference types", async () => {
  // `(ref null $t)` and `(ref $t)` block types take two bytes each. (The
  // branches keep binaryen from dropping the blocks.)
  const bytes = await watBinaryen(`(module
    (type $t (func (result i32)))
    (func $seven (type $t) (i32.const 7))
    (global $maybe (ref null $t) (ref.null $t))
    (global $some (ref $t) (ref.func $seven))
    (func $f (export "f") (param $n i32) (result i32)
      (if (result i32) (local.get $n)
        (then
          (drop (block $a (result (ref null $t))
            (br $a (global.get $maybe))))
          (drop (block $b (result (ref $t)) (br $b (global.get $some))))
          (i32.add (local.get $n)
            (call $f (i32.sub (local.get $n) (i32.const 1)))))
        (else (i32.const 1)))))`);
  const m = await meter(bytes);
  assert.equal((m.exports.f as Fn)(5), 16);
});

Deno.test("instrument() counts every frame of a recursion that overflows the stack", async () => {
  const bytes = await wat(`(module
    (global $depth (export "depth") (mut i32) (i32.const 0))
    (func $down (export "down") (param $n i32)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (if (local.get $n)
        (then (call $down (i32.sub (local.get $n) (i32.const 1)))))))`);
  for (const resumable of [true, false]) {
    const m = await meter(bytes, { resumable, initialFuel: 1n << 40n });
    const used = () => (1n << 40n) - (m.fuel.value as bigint) + m.used();
    const depth = m.exports.depth as WebAssembly.Global;
    const base = used();
    (m.exports.down as Fn)(0);
    const leaf = used() - base;
    (m.exports.down as Fn)(1);
    // down(1) pays one frame that calls, and a leaf.
    const frame = used() - base - 2n * leaf;
    depth.value = 0;
    const before = used();
    assert.throws(() => (m.exports.down as Fn)(1e9), RangeError);
    // Every frame that ran paid its entry and its call; the frame the
    // stack had no room for paid nothing.
    assert.ok(depth.value > 1000);
    assert.equal(used() - before, BigInt(depth.value) * frame);
  }
});

Deno.test("instrument() does not charge unreachable code", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "f")
        (block
          br 0
          i32.const 1
          drop
          i32.const 2
          drop)
        nop))`),
  );
  assert.equal(cost(m, "f"), 1n); // only br
});

Deno.test("instrument() applies the cost table", async () => {
  const bytes = await wat(`(module
    (func (export "f") (result i32)
      i32.const 1 i32.const 2 i32.add nop))`);
  const custom = await meter(bytes, {
    costs: { default: 2, operators: { "i32.add": 7, nop: 3 } },
  });
  assert.equal(cost(custom, "f"), 2n + 2n + 7n + 3n);
  const free = await meter(bytes, { costs: { default: 0 } });
  assert.equal(cost(free, "f"), 0n);
  // A segment may cost more than 2^31.
  const dear = await meter(bytes, {
    costs: { operators: { "i32.add": 2 ** 31 - 1, "i32.const": 2 ** 31 - 1 } },
  });
  assert.equal(cost(dear, "f"), 3n * (2n ** 31n - 1n));
});

Deno.test("instrument() charges bulk memory operators per byte and page", async () => {
  const bytes = await wat(`(module
    (memory 1 10)
    (data $d "hello world")
    (func (export "fill") (param i32)
      (memory.fill (i32.const 0) (i32.const 7) (local.get 0)))
    (func (export "copy") (param i32)
      (memory.copy (i32.const 100) (i32.const 0) (local.get 0)))
    (func (export "init") (param i32)
      (memory.init $d (i32.const 0) (i32.const 0) (local.get 0)))
    (func (export "grow") (param i32) (result i32)
      (memory.grow (local.get 0))))`);
  const m = await meter(bytes);
  assert.equal(cost(m, "fill", 1000), 4n + 1000n);
  assert.equal(cost(m, "copy", 0), 4n);
  assert.equal(cost(m, "init", 11), 4n + 11n);
  assert.equal(cost(m, "grow", 2), 2n + 2n);

  const priced = await meter(bytes, {
    costs: { perByte: 3, perPage: 1000 },
  });
  assert.equal(cost(priced, "fill", 10), 4n + 30n);
  assert.equal(cost(priced, "grow", 1), 2n + 1000n);
  // A failed grow is charged too: the guest asked for the work.
  assert.equal(cost(priced, "grow", 100), 2n + 100000n);

  const free = await meter(bytes, { costs: { perByte: 0 } });
  assert.equal(cost(free, "fill", 1000), 4n);
});

Deno.test("instrument() charges 64-bit operands of memory64 bulk operators", async () => {
  const m = await meter(
    await wat(`(module
      (memory i64 1)
      (func (export "fill") (param i64)
        (memory.fill (i64.const 0) (i32.const 7) (local.get 0)))
      (func (export "load") (param i64) (result i32)
        (i32.load8_u (local.get 0))))`),
    { costs: { perByte: 2 } },
  );
  assert.equal(cost(m, "fill", 100n), 4n + 200n);
  assert.equal((m.exports.load as Fn)(99n), 7);
  // A huge request is capped at 2^62 rather than wrapping around.
  const before = m.used();
  assert.throws(() => (m.exports.fill as Fn)(-1n), WebAssembly.RuntimeError);
  assert.equal(m.used() - before, 4n + (1n << 62n));
});

Deno.test("instrument() charges table operators per element", async () => {
  const m = await meter(
    await wat(`(module
      (table $t 1 100 funcref)
      (func (export "grow") (param i32) (result i32)
        (table.grow $t (ref.null func) (local.get 0)))
      (func (export "fill") (param i32)
        (table.fill $t (i32.const 0) (ref.null func) (local.get 0))))`),
    { costs: { perElement: 5 } },
  );
  assert.equal(cost(m, "grow", 3), 3n + 15n);
  assert.equal(cost(m, "fill", 4), 4n + 20n);
});

// ---------------------------------------------------------------------------
// (c) Exhaustion

Deno.test("instrument() traps when out_of_fuel refuses, before the segment runs", async () => {
  const bytes = await wat(`(module
    (global $count (export "count") (mut i32) (i32.const 0))
    (func (export "spin")
      (loop $l
        (global.set $count (i32.add (global.get $count) (i32.const 1)))
        (br $l))))`);
  let calls = 0;
  const m = await meter(bytes, {
    onOutOfFuel: (counter) => ++calls === 1 ? counter + 100n : -1n,
  });
  assert.throws(
    () => (m.exports.spin as Fn)(),
    (error: Error) =>
      error instanceof WebAssembly.RuntimeError &&
      /unreachable/.test(error.message),
  );
  // Each iteration costs 5: a budget of 100 runs exactly 20 of them.
  assert.equal((m.exports.count as WebAssembly.Global).value, 20);
  assert.equal(m.fuel.value, -1n);
});

Deno.test("instrument() stops a guest whose counter the host set negative during a call", async () => {
  const bytes = await wat(`(module
    (import "env" "tick" (func $tick))
    (global $after (export "after") (mut i32) (i32.const 0))
    (func (export "run")
      call $tick
      (global.set $after (i32.const 1))))`);
  const m: Metered = await meter(bytes, {
    imports: { env: { tick: () => (m.fuel.value = -(1n << 40n)) } },
    // Refuse once the host has asked for a stop.
    onOutOfFuel: (counter) => counter < -(1n << 39n) ? -1n : undefined,
  });
  assert.throws(() => (m.exports.run as Fn)(), WebAssembly.RuntimeError);
  assert.equal((m.exports.after as WebAssembly.Global).value, 0);
});

Deno.test("instrument() checks at catch landing sites so a guest cannot swallow a stop", async () => {
  const legacy = await wat(`(module
    (import "env" "stop" (func $stop))
    (global $caught (export "caught") (mut i32) (i32.const 0))
    (func (export "run")
      try
        call $stop
      catch_all
        (global.set $caught (i32.const 1))
      end))`);
  const exnref = await wat(`(module
    (import "env" "stop" (func $stop))
    (global $caught (export "caught") (mut i32) (i32.const 0))
    (func (export "run")
      (block $handler
        (try_table (catch_all $handler)
          call $stop)
        return)
      (global.set $caught (i32.const 1))))`);
  for (const bytes of [legacy, exnref]) {
    const stop = () => {
      m.fuel.value = -(1n << 40n);
      throw new Error("stop");
    };
    const m: Metered = await meter(bytes, {
      imports: { env: { stop } },
      onOutOfFuel: (counter) => counter < -(1n << 39n) ? -1n : undefined,
    });
    assert.throws(() => (m.exports.run as Fn)(), WebAssembly.RuntimeError);
    assert.equal((m.exports.caught as WebAssembly.Global).value, 0);
  }
});

// ---------------------------------------------------------------------------
// (g) Start functions

Deno.test("instrument() meters the start function during instantiation", async () => {
  const bytes = await wat(`(module
    (global $g (export "g") (mut i32) (i32.const 0))
    (func $start (global.set $g (i32.const 42)))
    (start $start))`);
  const m = await meter(bytes);
  assert.equal((m.exports.g as WebAssembly.Global).value, 42);
  assert.deepEqual(m.calls, [[-2n, 2n]]);
  assert.equal(m.used(), 2n);

  const metered = instrument(bytes);
  await assert.rejects(
    WebAssembly.instantiate(metered.bytes, {
      [metered.importModule]: { [metered.importName]: () => -1n },
    }),
    WebAssembly.RuntimeError,
  );
});

// ---------------------------------------------------------------------------
// (d) Names, (e) clashes

function functionNames(bytes: Bytes): Map<number, string> {
  const names = new Map<number, string>();
  for (
    const data of WebAssembly.Module.customSections(
      new WebAssembly.Module(bytes),
      "name",
    )
  ) {
    const r = new Reader(new Uint8Array(data));
    while (!r.atEnd()) {
      const id = r.u8();
      const size = r.u32();
      const end = r.pos + size;
      if (id === 1) {
        for (let n = r.u32(); n > 0; n--) names.set(r.u32(), r.name());
      }
      r.pos = end;
    }
  }
  return names;
}

Deno.test("instrument() keeps function names right after the index shift", async () => {
  const bytes = await wat(`(module
    (import "env" "imp" (func $imp))
    (func $first (export "first") (result i32) i32.const 1)
    (func $second (export "second") (result i32) call $first i32.const 1 i32.add))`);
  assert.deepEqual(
    functionNames(bytes),
    new Map([[0, "imp"], [1, "first"], [2, "second"]]),
  );
  const metered = instrument(bytes);
  assert.deepEqual(
    functionNames(metered.bytes),
    new Map([[0, "imp"], [2, "first"], [3, "second"]]),
  );
  const m = await meter(bytes, { imports: { env: { imp: () => {} } } });
  assert.equal((m.exports.second as Fn)(), 2);
});

/** The byte size of every function body in a module's code section. */
function bodySizes(bytes: Uint8Array): number[] {
  const r = new Reader(bytes, 8, bytes.length);
  while (!r.atEnd()) {
    const id = r.u8();
    const end = r.u32() + r.pos;
    if (id === 10) {
      const sizes: number[] = [];
      for (let n = r.u32(); n > 0; n--) {
        const size = r.u32();
        sizes.push(size);
        r.pos += size;
      }
      return sizes;
    }
    r.pos = end;
  }
  return [];
}

/** The share of bodies V8 counts as small (under 50 bytes). */
function smallShare(bytes: Uint8Array): number {
  const sizes = bodySizes(bytes);
  return sizes.filter((size) => size < 50).length / sizes.length;
}

Deno.test("instrument() keeps V8's share of small function bodies", async () => {
  // Four small bodies that checks push past 50 bytes: padding brings the
  // share back to the half that gives V8's full inlining budget.
  const compute = await Deno.readFile(
    new URL("../guest/compute.wasm", import.meta.url),
  );
  assert.equal(smallShare(compute), 1);
  for (const resumable of [true, false]) {
    const metered = instrument(compute, { resumable }).bytes;
    assert.ok(smallShare(metered) >= 0.5, `resumable: ${resumable}`);
    const m = await meter(compute, { resumable, initialFuel: 1n << 40n });
    assert.equal((m.exports.fib as Fn)(20), 6765);
  }
  // A module that is mostly big is left as it is.
  const big = await wat(`(module (func (export "f") (result i32)
    ${"i32.const 1 drop ".repeat(30)} i32.const 7))`);
  assert.equal(bodySizes(instrument(big).bytes).length, 2);
});

Deno.test("paddingFunctions() reaches the input's share, capped at one half", () => {
  assert.equal(paddingFunctions(4, 4, 5, 1), 3); // 4/8 = 1/2
  assert.equal(paddingFunctions(10, 4, 11, 2), 4); // 6/15 = 4/10
  assert.equal(paddingFunctions(4, 1, 5, 1), 0); // 25% or less: no effect
  assert.equal(paddingFunctions(10, 6, 11, 7), 0); // already there
  assert.equal(paddingFunctions(0, 0, 1, 1), 0);
});

Deno.test("instrument() picks names that do not clash with the guest's", async () => {
  const bytes = await wat(`(module
    (import "early-exit" "out_of_fuel" (func $fake (param i64 i64) (result i64)))
    (import "early-exit-1" "x" (func $x))
    (func (export "early-exit:fuel") (result i32) i32.const 7)
    (global (export "early-exit:fuel-1") i32 (i32.const 0)))`);
  const metered = instrument(bytes);
  assert.equal(metered.importModule, "early-exit-2");
  assert.equal(metered.importName, "out_of_fuel");
  assert.equal(metered.fuelExport, "early-exit:fuel-2");
  const m = await meter(bytes, {
    imports: {
      "early-exit": { out_of_fuel: () => assert.fail("wrong import") },
      "early-exit-1": { x: () => {} },
    },
  });
  assert.equal((m.exports["early-exit:fuel"] as Fn)(), 7);

  const preferred = instrument(bytes, {
    importModule: "meter",
    fuelExport: "fuel",
  });
  assert.equal(preferred.importModule, "meter");
  assert.equal(preferred.fuelExport, "fuel");
});

Deno.test("instrument() handles a module with no sections at all", async () => {
  const empty = moduleOf();
  const m = await meter(empty);
  assert.equal(m.fuel.value, 0n);
  // Instrumenting twice works too: the second import gets its own module.
  const twice = instrument(instrument(empty).bytes);
  assert.equal(twice.importModule, "early-exit-1");
  assert.ok(WebAssembly.validate(twice.bytes));
});

// ---------------------------------------------------------------------------
// (b) Each proposal's operators validate and behave the same

Deno.test("instrument() preserves multi-value, sign-extension and saturating conversions", async () => {
  const bytes = await wat(`(module
    (func (export "swap") (param i32 i32) (result i32 i32) local.get 1 local.get 0)
    (func (export "sum") (param i32 i32) (result i32)
      local.get 0 local.get 1
      (block (param i32 i32) (result i32) i32.add))
    (func (export "ext") (param i32) (result i32) local.get 0 i32.extend8_s)
    (func (export "ext64") (param i64) (result i64) local.get 0 i64.extend32_s)
    (func (export "sat") (param f64) (result i32) local.get 0 i32.trunc_sat_f64_s)
    (func (export "satu") (param f32) (result i64) local.get 0 i64.trunc_sat_f32_u))`);
  await assertSameBehaviour(bytes, [
    ["swap", 1, 2],
    ["sum", 3, 4],
    ["ext", 0xff],
    ["ext64", 0xffffffffn],
    ["sat", 1e20],
    ["sat", NaN],
    ["satu", -5],
  ]);
});

Deno.test("instrument() preserves bulk memory and reference types", async () => {
  const bytes = await wat(`(module
    (memory 1)
    (data $d "abcdef")
    (table $t 4 funcref)
    (table $ext 2 externref)
    (func $one (result i32) i32.const 1)
    (func $two (result i32) i32.const 2)
    (elem $e func $one $two)
    (type $r (func (result i32)))
    (func (export "bulk") (result i32)
      (memory.init $d (i32.const 10) (i32.const 1) (i32.const 4))
      (data.drop $d)
      (memory.copy (i32.const 20) (i32.const 10) (i32.const 4))
      (memory.fill (i32.const 22) (i32.const 0x7a) (i32.const 1))
      (i32.load (i32.const 20)))
    (func (export "tables") (param i32) (result i32)
      (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 2))
      (elem.drop $e)
      (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 2))
      (drop (table.grow $t (ref.null func) (i32.const 1)))
      (i32.add
        (call_indirect $t (type $r) (local.get 0))
        (table.size $t)))
    (func (export "refs") (param externref) (result i32)
      (table.set $ext (i32.const 1) (local.get 0))
      (table.fill $ext (i32.const 0) (ref.null extern) (i32.const 1))
      (i32.add
        (ref.is_null (table.get $ext (i32.const 0)))
        (select (result i32) (i32.const 10) (i32.const 20)
          (ref.is_null (table.get $ext (i32.const 1))))))
    (func (export "func") (result i32)
      (ref.is_null (ref.func $one))))`);
  await assertSameBehaviour(bytes, [
    ["bulk"],
    ["tables", 3],
    ["tables", 9],
    ["refs", {}],
    ["refs", null],
    ["func"],
  ]);
});

Deno.test("instrument() preserves SIMD and relaxed SIMD", async () => {
  const bytes = await wat(`(module
    (memory 1)
    (func (export "simd") (param i32) (result i32)
      (v128.store (i32.const 0)
        (i32x4.add (i32x4.splat (local.get 0)) (v128.const i32x4 1 2 3 4)))
      (v128.store (i32.const 16)
        (i8x16.shuffle 3 2 1 0 7 6 5 4 11 10 9 8 15 14 13 12
          (v128.load (i32.const 0)) (v128.load (i32.const 0))))
      (i32.add
        (i32x4.extract_lane 3 (v128.load32_zero (i32.const 16)))
        (i32.add
          (i32x4.extract_lane 1 (v128.load (i32.const 16)))
          (i8x16.extract_lane_u 0
            (v128.load8_lane 0 (i32.const 0) (v128.const i64x2 0 0))))))
    (func (export "relaxed") (param f32) (result i32)
      (i32x4.extract_lane 0
        (i32x4.relaxed_trunc_f32x4_s
          (f32x4.relaxed_madd (f32x4.splat (local.get 0))
            (f32x4.splat (f32.const 2)) (f32x4.splat (f32.const 1))))))
    (func (export "swizzle") (result i32)
      (i8x16.extract_lane_s 0
        (i8x16.relaxed_swizzle (v128.const i8x16 9 8 7 6 5 4 3 2 1 0 1 2 3 4 5 6)
          (v128.const i8x16 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0)))))`);
  await assertSameBehaviour(bytes, [
    ["simd", 5],
    ["simd", -1],
    ["relaxed", 3.25],
    ["swizzle"],
  ]);
});

Deno.test("instrument() preserves tail calls", async () => {
  const bytes = await wat(`(module
    (type $t (func (param i32 i32) (result i32)))
    (table 1 funcref)
    (elem (i32.const 0) $count)
    (func $count (export "count") (param i32 i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0))
        (then (local.get 1))
        (else
          (return_call $count
            (i32.sub (local.get 0) (i32.const 1))
            (i32.add (local.get 1) (i32.const 2))))))
    (func (export "indirect") (param i32) (result i32)
      (return_call_indirect (type $t) (local.get 0) (i32.const 0) (i32.const 0))))`);
  await assertSameBehaviour(bytes, [
    ["count", 1_000_000, 0],
    ["indirect", 10],
  ]);
});

Deno.test("instrument() preserves legacy exception handling", async () => {
  const bytes = await wat(`(module
    (import "env" "fail" (func $fail))
    (tag $e (param i32))
    (func $thrower (param i32) (local.get 0) (throw $e))
    (func (export "catch") (param i32) (result i32)
      try (result i32)
        (call $thrower (local.get 0))
        i32.const 0
      catch $e
        i32.const 100
        i32.add
      end)
    (func (export "catchall") (result i32)
      try (result i32)
        call $fail
        i32.const 0
      catch_all
        i32.const 7
      end)
    (func (export "delegate") (param i32) (result i32)
      try (result i32)
        try
          (call $thrower (local.get 0))
        delegate 0
        i32.const 0
      catch $e
      end)
    (func (export "rethrow") (param i32) (result i32)
      try (result i32)
        try
          (call $thrower (local.get 0))
        catch $e
          drop
          rethrow 0
        end
        i32.const 0
      catch $e
        i32.const 1
        i32.add
      end))`);
  await assertSameBehaviour(
    bytes,
    [["catch", 5], ["catchall"], ["delegate", 9], ["rethrow", 41]],
    () => ({ env: { fail: () => assert.fail("from JS") } }),
  );
});

Deno.test("instrument() preserves exnref exception handling", async () => {
  const bytes = await wat(`(module
    (tag $e (param i32))
    (func $thrower (param i32) (local.get 0) (throw $e))
    (func (export "catch") (param i32) (result i32)
      (block $h (result i32)
        (try_table (catch $e $h)
          (call $thrower (local.get 0)))
        i32.const 0))
    (func (export "catchref") (param i32) (result i32)
      (block $outer (result i32)
        (try_table (catch $e $outer)
          (block $h (result i32 exnref)
            (try_table (catch_ref $e $h)
              (call $thrower (local.get 0)))
            (return (i32.const 0)))
          throw_ref)
        i32.const -1))
    (func (export "catchall") (result i32)
      (block $h
        (try_table (catch_all $h)
          (call $thrower (i32.const 1)))
        (return (i32.const 0)))
      i32.const 2)
    (func (export "catchallref") (result i32)
      (block $h (result exnref)
        (try_table (catch_all_ref $h)
          (call $thrower (i32.const 1)))
        (return (i32.const 0)))
      drop
      i32.const 3))`);
  await assertSameBehaviour(bytes, [
    ["catch", 4],
    ["catchref", 8],
    ["catchall"],
    ["catchallref"],
  ]);
});

Deno.test("instrument() preserves threads and atomics", async () => {
  const bytes = await wat(`(module
    (memory 1 1 shared)
    (func (export "atomics") (param i32) (result i32)
      (i32.atomic.store (i32.const 0) (local.get 0))
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 5)))
      (drop (i32.atomic.rmw.cmpxchg (i32.const 0) (i32.const 0) (i32.const 1)))
      (i64.atomic.store (i32.const 8) (i64.const 3))
      (drop (i64.atomic.rmw8.xchg_u (i32.const 8) (i64.const 4)))
      atomic.fence
      (i32.add
        (i32.add
          (i32.atomic.load (i32.const 0))
          (i32.wrap_i64 (i64.atomic.load (i32.const 8))))
        (i32.add
          (memory.atomic.notify (i32.const 0) (i32.const 1))
          (memory.atomic.wait32 (i32.const 0) (i32.const -1) (i64.const 0))))))`);
  await assertSameBehaviour(bytes, [["atomics", 10], ["atomics", 0]]);
});

Deno.test("instrument() preserves memory64, multi-memory and extended constants", async () => {
  const bytes = await wat(`(module
    (import "env" "base" (global $base i32))
    (global $offset i32 (i32.add (global.get $base) (i32.const 5)))
    (global $wide i64 (i64.mul (i64.const 3) (i64.const 7)))
    (memory $a i64 1)
    (memory $b 1)
    (func (export "wide") (param i64) (result i64)
      (i64.store offset=8 (local.get 0) (global.get $wide))
      (memory.copy $a $a (i64.const 100) (local.get 0) (i64.const 16))
      (drop (memory.grow $a (i64.const 1)))
      (i64.add (i64.load offset=8 (i64.const 100)) (memory.size $a)))
    (func (export "multi") (param i32) (result i32)
      (i32.store $b (global.get $offset) (local.get 0))
      (memory.fill $b (i32.const 100) (i32.const 1) (i32.const 4))
      (i32.add (i32.load $b (global.get $offset)) (i32.load8_u $b (i32.const 101)))))`);
  await assertSameBehaviour(
    bytes,
    [["wide", 0n], ["wide", 1000n], ["multi", 42]],
    () => ({ env: { base: 16 } }),
  );
});

Deno.test("instrument() preserves typed function references", async () => {
  const bytes = await watBinaryen(`(module
    (type $f (func (param i32) (result i32)))
    (func $double (type $f) (i32.mul (local.get 0) (i32.const 2)))
    (elem declare func $double)
    (func $ref (param $n i32) (result (ref null $f))
      (if (result (ref null $f)) (local.get $n)
        (then (ref.func $double))
        (else (ref.null $f))))
    (func (export "call") (param i32) (result i32)
      (call_ref $f (local.get 0) (ref.as_non_null (call $ref (i32.const 1)))))
    (func $tail (param i32) (result i32)
      (return_call_ref $f (local.get 0) (ref.func $double)))
    (func (export "tail") (param i32) (result i32) (call $tail (local.get 0)))
    (func (export "null") (param i32) (result i32)
      (block $none
        (return
          (call_ref $f (i32.const 5)
            (br_on_null $none (call $ref (local.get 0))))))
      (i32.const -1))
    (func (export "nonnull") (param i32) (result i32)
      (local $r (ref null $f))
      (local.set $r
        (block $some (result (ref $f))
          (br_on_non_null $some (call $ref (local.get 0)))
          (return (i32.const -2))))
      (call_ref $f (i32.const 21) (local.get $r))))`);
  await assertSameBehaviour(bytes, [
    ["call", 4],
    ["tail", 5],
    ["null", 0],
    ["null", 1],
    ["nonnull", 0],
  ]);
});

Deno.test("instrument() preserves GC operators", async () => {
  const bytes = await watBinaryen(`(module
    (type $point (struct (field $x (mut i32)) (field $y i32)))
    (type $bytes (array (mut i8)))
    (type $ints (array (mut i32)))
    (type $sub (sub (struct (field i32))))
    (type $subsub (sub $sub (struct (field i32) (field i64))))
    (data $d "\\01\\02\\03\\04")
    (func (export "structs") (param i32) (result i32)
      (local $p (ref $point))
      (local.set $p (struct.new $point (local.get 0) (i32.const 10)))
      (struct.set $point $x (local.get $p)
        (i32.add (struct.get $point $x (local.get $p)) (i32.const 1)))
      (i32.add (struct.get $point $x (local.get $p))
        (struct.get $point $y (struct.new_default $point))))
    (func (export "arrays") (param i32) (result i32)
      (local $a (ref $ints))
      (local $b (ref $bytes))
      (local.set $a (array.new $ints (i32.const 3) (local.get 0)))
      (array.fill $ints (local.get $a) (i32.const 1) (i32.const 9) (i32.const 2))
      (array.copy $ints $ints (local.get $a) (i32.const 0)
        (array.new_fixed $ints 2 (i32.const 5) (i32.const 6)) (i32.const 0)
        (i32.const 1))
      (local.set $b (array.new_data $bytes $d (i32.const 0) (i32.const 4)))
      (array.init_data $bytes $d (local.get $b) (i32.const 0) (i32.const 2) (i32.const 2))
      (i32.add
        (i32.add (array.get $ints (local.get $a) (i32.const 0))
          (array.get $ints (local.get $a) (i32.const 2)))
        (i32.add (array.len (local.get $a))
          (i32.add (array.get_u $bytes (local.get $b) (i32.const 0))
            (array.len (array.new_default $ints (local.get 0)))))))
    (func (export "casts") (param i32) (result i32)
      (local $r anyref)
      (local.set $r
        (if (result anyref) (local.get 0)
          (then (struct.new $subsub (i32.const 1) (i64.const 2)))
          (else (ref.i31 (i32.const -7)))))
      (i32.add
        (i32.add
          (ref.test (ref $sub) (local.get $r))
          (i32.mul (i32.const 10) (ref.test (ref i31) (local.get $r))))
        (struct.get $sub 0
          (block $is (result (ref $sub))
            (drop
              (block $not (result anyref)
                (br_on_cast $is anyref (ref $sub) (local.get $r))))
            (return (i31.get_s (ref.cast (ref i31) (local.get $r))))))))
    (func (export "castfail") (param i32) (result i32)
      (block $fail (result anyref)
        (return
          (i31.get_u
            (br_on_cast_fail $fail anyref (ref i31)
              (if (result anyref) (local.get 0)
                (then (ref.i31 (i32.const 5)))
                (else (struct.new $point (i32.const 0) (i32.const 0))))))))
      drop
      (i32.const -1))
    (func (export "extern") (param externref) (result externref)
      (extern.convert_any (any.convert_extern (local.get 0)))))`);
  await assertSameBehaviour(bytes, [
    ["structs", 41],
    ["arrays", 4],
    ["casts", 1],
    ["casts", 0],
    ["castfail", 1],
    ["castfail", 0],
    ["extern", "x"],
  ]);
  // GC array bulk operators are charged per element.
  const m = await meter(bytes, { costs: { perElement: 1000 } });
  assert.ok(cost(m, "arrays", 100) > 100_000n);
});

// ---------------------------------------------------------------------------
// Safety: indices are checked against the original module

Deno.test("instrument() rejects indices that would reach the added items", () => {
  // global.get 0 without globals would read the fuel counter.
  assertInvalid(moduleWithBody([0x23, 0x00, 0x1a]), /global index 0/);
  // global.set 0 likewise.
  assertInvalid(moduleWithBody([0x41, 0x00, 0x24, 0x00]), /global index 0/);
  // call 1 (one function) would call the slow path or the import.
  assertInvalid(moduleWithBody([0x10, 0x01]), /function index 1/);
  // ref.func 2.
  assertInvalid(moduleWithBody([0xd2, 0x02, 0x1a]), /function index 2/);
  // A type index equal to the type count.
  assertInvalid(
    moduleWithBody([0x41, 0x00, 0x11, 0x01, 0x00], [
      section(4, [0x01, 0x70, 0x00, 0x01]),
    ]),
    /type index 1/,
  );
  // A local index past the function's locals would reach $f.
  assertInvalid(moduleWithBody([0x20, 0x00, 0x1a]), /local index 0/);
  // An export of global 0, a start function out of range.
  assertInvalid(
    moduleOf(section(7, [0x01, 0x01, 0x67, 0x03, 0x00])),
    /global index 0/,
  );
  assertInvalid(
    moduleOf(section(8, [0x00])),
    /function index 0/,
  );
  // A global initializer reading a later global.
  assertInvalid(
    moduleOf(section(6, [0x01, 0x7e, 0x00, 0x23, 0x00, 0x0b])),
    /global index 0/,
  );
});

// ---------------------------------------------------------------------------
// (f) Malformed input

Deno.test("instrument() rejects every truncation of a module with an offset", async () => {
  const bytes = await wat(`(module
    (import "env" "f" (func $f (param i32)))
    (memory 1)
    (global $g (mut i32) (i32.const 1000))
    (table 2 funcref)
    (elem (i32.const 0) $a $b)
    (func $a (export "a") (param i32) (result i32)
      (loop $l
        (br_if $l (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1)))
          (global.get $g))))
      (call $f (local.get 0))
      (memory.fill (i32.const 0) (i32.const 0) (local.get 0))
      (i64.const 0x123456789)
      drop
      local.get 0)
    (func $b (param i32) (result i32) (call $a (local.get 0)))
    (data (i32.const 0) "xyz"))`);
  for (let length = 0; length < bytes.length; length++) {
    const prefix = bytes.subarray(0, length);
    if (WebAssembly.validate(prefix)) {
      assert.ok(WebAssembly.validate(instrument(prefix).bytes));
    } else {
      assertInvalid(prefix);
    }
  }
});

Deno.test("instrument() rejects overlong and oversized LEB128 integers", () => {
  // A 6-byte u32 (local.get's index).
  assertInvalid(
    moduleWithBody([0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
    /too long/,
  );
  // A 5-byte u32 with bits above 32.
  assertInvalid(
    moduleWithBody([0x10, 0x80, 0x80, 0x80, 0x80, 0x70]),
    /too large/,
  );
  // An s32 constant whose last byte does not sign-extend.
  assertInvalid(
    moduleWithBody([0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x1a]),
    /too large/,
  );
  // An s64 constant of 11 bytes.
  assertInvalid(
    moduleWithBody([0x42, ...new Array(10).fill(0x80), 0x00, 0x1a]),
    /too long/,
  );
  // A section size larger than the module.
  assertInvalid(
    moduleOf([1, 0x7f, 0]),
    /section size/,
  );
});

Deno.test("instrument() names unknown opcodes", () => {
  try {
    instrument(moduleWithBody([0xfc, 0x99, 0x01]));
    assert.fail("accepted");
  } catch (error) {
    assert.ok(isInvalidModule(error));
    assert.match(error.message, /unknown opcode 0xfc 0x99/);
    assert.equal(error.offset, 23); // header 8, types 6, functions 4, code 5
  }
  assertInvalid(moduleWithBody([0x27]), /unknown opcode 0x27/);
  assertInvalid(moduleWithBody([0xfd, 0x9a, 0x01]), /unknown opcode 0xfd 0x9a/);
  assertInvalid(moduleWithBody([0xff]), /unknown opcode 0xff/);
});

Deno.test("instrument() rejects unbalanced blocks and bad bodies", () => {
  assertInvalid(moduleWithBody([0x02, 0x40]), /does not end with end/);
  assertInvalid(moduleWithBody([0x0b, 0x01]), /after the function's final end/);
  assertInvalid(moduleWithBody([0x05]), /else without if/);
  assertInvalid(moduleWithBody([0x19]), /catch_all without try/);
  assertInvalid(moduleWithBody([0x0c, 0x01]), /label 1 out of range/);
  assertInvalid(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /version/);
  assertInvalid(new Uint8Array([1, 2, 3]), /magic/);
  // A function section without a code section.
  assertInvalid(
    moduleOf(section(1, [0x01, 0x60, 0x00, 0x00]), section(3, [0x01, 0x00])),
    /without a code section/,
  );
});

Deno.test("instrument() never throws anything but InvalidModule on corrupted input", async () => {
  const bytes = await wat(`(module
    (type $t (func (param i32) (result i32)))
    (import "env" "f" (func $f (type $t)))
    (memory 1)
    (table 1 funcref)
    (global $g (mut i64) (i64.const -5))
    (func $a (export "a") (type $t)
      (block (result i32)
        (br_table 0 0 (local.get 0) (i32.const 1)))
      (if (result i32) (then (call $f (i32.const 2))) (else (i32.const 3)))
      (call_indirect (type $t) (i32.const 0))
      (v128.const i32x4 1 2 3 4)
      i32x4.extract_lane 2
      i32.add)
    (elem (i32.const 0) $a)
    (data (i32.const 8) "data"))`);
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < 2000; i++) {
    const mutated = bytes.slice();
    for (let j = random() % 3; j >= 0; j--) {
      mutated[random() % mutated.length] = random() & 0xff;
    }
    const valid = WebAssembly.validate(mutated);
    let output: Bytes;
    try {
      output = instrument(mutated).bytes;
    } catch (error) {
      assert.ok(isInvalidModule(error), `unbranded error: ${error}`);
      assert.ok(!valid, `mutation ${i} is valid but was rejected: ${error}`);
      continue;
    }
    assert.ok(WebAssembly.validate(output), `mutation ${i} came out invalid`);
  }
});

Deno.test("instrument() rejects a well-formed but invalid module with the engine's reason", () => {
  // i32.add on an empty stack: well-formed, but not valid.
  const bytes = moduleWithBody([0x6a, 0x1a]);
  try {
    instrument(bytes);
    assert.fail("accepted");
  } catch (error) {
    assert.ok(isInvalidModule(error));
    assert.match(error.message, /^Invalid module: .*i32\.add/);
    assert.equal(error.offset, 23);
  }
  // Without validation the caller gets the output and compiles it itself.
  const unchecked = instrument(bytes, { validate: false });
  assert.equal(WebAssembly.validate(unchecked.bytes), false);
});

Deno.test("instrument() keeps names with a byte-order mark and block types past 63", async () => {
  // An export named U+FEFF next to one named "": distinct names.
  const bom = await wat(`(module
    (func (export "") (result i32) i32.const 1)
    (func (export "\\ef\\bb\\bf") (result i32) i32.const 2))`);
  const m = await meter(bom);
  assert.equal((m.exports[""] as Fn)(), 1);
  assert.equal((m.exports["\ufeff"] as Fn)(), 2);
  // Type index 70 in a block type takes two bytes.
  const types = Array.from(
    { length: 70 },
    (_, i) => `(type $t${i} (func (param ${"i32 ".repeat(i % 3)})))`,
  ).join("\n");
  const many = await wat(`(module ${types}
    (type $pair (func (param i32) (result i32 i32)))
    (func (export "f") (param i32) (result i32)
      local.get 0
      (block (type $pair) (param i32) (result i32 i32) local.get 0)
      i32.add))`);
  await assertSameBehaviour(many, [["f", 21]]);
});

Deno.test("instrument() rejects bad options with a TypeError", () => {
  const empty = moduleOf();
  assert.throws(() => instrument(empty, { costs: { default: -1 } }), TypeError);
  assert.throws(
    () => instrument(empty, { costs: { perByte: 1.5 } }),
    TypeError,
  );
  assert.throws(
    () => instrument(empty, { costs: { operators: { "i32.nope": 1 } } }),
    /no operator has that name/,
  );
  assert.throws(
    () => instrument(empty, { costs: { operators: { "i32.add": 2 ** 40 } } }),
    TypeError,
  );
  assert.throws(
    () => instrument("wasm" as unknown as Uint8Array),
    TypeError,
  );
});

// ---------------------------------------------------------------------------
// Real-world and conformance sweeps (skipped where the inputs are missing)

const esbuildWasm = await findNpmFile("esbuild-wasm", "esbuild.wasm");

Deno.test({
  name: "instrument() rewrites esbuild.wasm into a valid module",
  ignore: esbuildWasm === undefined,
  fn() {
    const bytes = Deno.readFileSync(esbuildWasm!);
    const metered = instrument(bytes);
    assert.ok(WebAssembly.validate(metered.bytes));
  },
});

const TESTSUITE = new URL("../../shared/wasm-testsuite/", import.meta.url);
let hasTestsuite = false;
try {
  hasTestsuite = Deno.statSync(TESTSUITE).isDirectory;
} catch { /* not checked out here */ }

/** The top-level `(module …)` forms of a .wast script that wabt can parse. */
function* wastModules(text: string): Generator<string> {
  let i = 0;
  while (i < text.length) {
    if (text.startsWith(";;", i)) {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end + 1;
    } else if (text.startsWith("(;", i)) {
      i = text.indexOf(";)", i) + 2;
      if (i < 2) return;
    } else if (text[i] === "(") {
      let depth = 0;
      let j = i;
      let inString = false;
      for (; j < text.length; j++) {
        const c = text[j];
        if (inString) {
          if (c === "\\") j++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (text.startsWith(";;", j)) j = text.indexOf("\n", j);
        else if (text.startsWith("(;", j)) j = text.indexOf(";)", j) + 1;
        else if (c === "(") depth++;
        else if (c === ")" && --depth === 0) break;
        if (j < 0) return;
      }
      const form = text.slice(i, j + 1);
      if (
        /^\(module\b/.test(form) &&
        !/^\(module(\s+\$\S+)?\s+(binary|quote|definition|instance)\b/.test(
          form,
        )
      ) yield form;
      i = j + 1;
    } else i++;
  }
}

Deno.test({
  name: "instrument() keeps every spec testsuite module valid",
  ignore: !hasTestsuite,
  async fn() {
    const w = await wabt();
    let checked = 0;
    const files: URL[] = [];
    for (const entry of Deno.readDirSync(TESTSUITE)) {
      if (entry.name.endsWith(".wast")) {
        files.push(new URL(entry.name, TESTSUITE));
      }
    }
    for (const file of files) {
      for (const source of wastModules(Deno.readTextFileSync(file))) {
        let bytes: Bytes;
        try {
          const module = w.parseWat("spec.wat", source, FEATURES);
          try {
            validateWat(module);
            bytes = module.toBinary({ write_debug_names: true })
              .buffer as Bytes;
          } finally {
            module.destroy();
          }
        } catch {
          continue; // wabt cannot parse every proposal's text
        }
        if (!WebAssembly.validate(bytes)) continue;
        const metered = instrument(bytes);
        assert.ok(
          WebAssembly.validate(metered.bytes),
          `${file.pathname}: ${source.slice(0, 80)}`,
        );
        checked++;
      }
    }
    assert.ok(checked > 1000, `only ${checked} modules checked`);
  },
});

Deno.test("every check's if is hinted unlikely, in both kinds of check, and stale guest hints are dropped", async () => {
  const guest = new Uint8Array(
    await Deno.readFile(new URL("../guest/compute.wasm", import.meta.url)),
  );
  for (const resumable of [true, false]) {
    const metered = instrument(guest, { resumable });
    const module = new WebAssembly.Module(metered.bytes);
    const sections = WebAssembly.Module.customSections(
      module,
      "metadata.code.branch_hint",
    );
    assert.equal(sections.length, 1);
    // Where each function body starts (after its size), by function index.
    const bodies = new Map<number, number>();
    const r = new Reader(metered.bytes, 8);
    let imported = 0;
    while (r.pos < metered.bytes.length) {
      const id = r.u8();
      const size = r.u32();
      const end = r.pos + size;
      if (id === 2) {
        const count = r.u32();
        for (let i = 0; i < count; i++) {
          r.name();
          r.name();
          const kind = r.u8();
          assert.equal(
            kind,
            0,
            "compute.wasm imports only functions once metered",
          );
          r.u32();
          imported++;
        }
      } else if (id === 10) {
        const count = r.u32();
        for (let i = 0; i < count; i++) {
          const bodySize = r.u32();
          bodies.set(imported + i, r.pos);
          r.pos += bodySize;
        }
      } else if (id === 0 && bodies.size === 0) {
        assert.notEqual(r.name(), "", "custom sections are named");
      }
      r.pos = end;
    }
    const hints = new Reader(new Uint8Array(sections[0]));
    let hinted = 0;
    for (let functions = hints.u32(); functions > 0; functions--) {
      const body: number | undefined = bodies.get(hints.u32());
      assert.ok(body !== undefined);
      for (let count = hints.u32(); count > 0; count--) {
        const at: number = body + hints.u32();
        assert.equal(hints.u32(), 1);
        assert.equal(hints.u8(), 0, "unlikely");
        assert.deepEqual([...metered.bytes.subarray(at - 1, at + 2)], [
          0x53,
          0x04,
          0x40,
        ], "i64.lt_s; if");
        hinted++;
      }
    }
    assert.ok(hinted >= 6, `${hinted} checks hinted`);
  }
  // A guest's own hints would point at moved code: only the rewriter's remain.
  const stale = new Uint8Array([
    ...guest,
    0,
    26,
    25,
    ...new TextEncoder().encode("metadata.code.branch_hint"),
  ]);
  const rewritten = new WebAssembly.Module(instrument(stale).bytes);
  assert.equal(
    WebAssembly.Module.customSections(rewritten, "metadata.code.branch_hint")
      .length,
    1,
  );
});
