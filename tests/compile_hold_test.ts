/**
 * V8 compiles a function at its first call, on the caller's thread, before
 * the function's first check runs: nothing the host does can cut that
 * short. Its time grows as the function's locals times its control points
 * (loops, ifs, branches): a 12 KB guest of one function with 40,000 locals
 * and 4,000 empty loops held a call with a 50 ms deadline about 4 s late,
 * metered or deadline-only alike. Every rewrite now refuses such a function
 * with `InvalidModule`; one just under the limit loads, and its deadline
 * lands in time.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  type GuestOptions,
  invokeIsolated,
  isInvalidModule,
  loadGuest,
  runWasi,
} from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { encodeLeb, moduleOf, section } from "./support/module_bytes.ts";
import { threadCpuMs } from "./support/thread_cpu.ts";

/**
 * A guest whose `run(x)` has `locals` i32 locals (its parameter included),
 * goes through `loops` empty loops (or `if`s on `x`), then spins forever.
 */
function heavy(
  locals: number,
  count: number,
  kind: "loop" | "if" = "loop",
): Uint8Array<ArrayBuffer> {
  const code = [0x01, ...encodeLeb(locals - 1), 0x7f];
  for (let i = 0; i < count; i++) {
    if (kind === "loop") code.push(0x03, 0x40, 0x0b);
    else code.push(0x20, 0x00, 0x04, 0x40, 0x0b); // local.get 0, if, end
  }
  code.push(0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b); // loop, br 0, end; end
  return moduleOf(
    section(1, [0x01, 0x60, 0x01, 0x7f, 0x00]),
    section(3, [0x01, 0x00]),
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]), // "run"
    section(10, [0x01, ...encodeLeb(code.length), ...code]),
  );
}

const REFUSED =
  /^function 0 has 40000 locals and 40012 control points \(a loop counts 10;.*; each local counts 12 in a function of over 128 locals\): \(12 \* 40000 \+ 16\) \* 40012 = 19206400192 is over the limit of 1048576, .*split the function or use fewer locals, or run it with invokeIsolated/;

Deno.test("a function whose first compile would hold the thread is refused, in every mode that rewrites", async () => {
  const bytes = heavy(40_000, 4_000);
  for (
    const options of [{ timeout: 50 }, { fuel: 1e9 }, {
      fuel: 1e9,
      timeout: 50,
    }]
  ) {
    await assert.rejects(
      () => loadGuest(bytes, options),
      (error) => isInvalidModule(error) && REFUSED.test(error.message),
    );
  }
  for (const options of [{}, { stopFlag: true, fuel: false }] as const) {
    assert.throws(
      () => instrument(bytes, options),
      (error) => isInvalidModule(error) && REFUSED.test(error.message),
    );
  }
  // `if`s count too, 2 each: one past the function that loads below.
  assert.throws(
    () => instrument(heavy(1_000, 38, "if"), {}),
    (error) =>
      isInvalidModule(error) &&
      /^function 0 has 1000 locals and 88 control points .*: \(12 \* 1000 \+ 16\) \* 88 \+ 32 \* 38 = 1058624 is over the limit of 1048576/
        .test(error.message),
  );
});

Deno.test("a function just under the compile limit loads and stops at its deadline", async () => {
  // (12 * 1,000 + 16) * 86 + 32 * 37 and (3 * 30 + 16) * 9,812 units:
  // both just under 2^20 (each local counts 12 in a function of over 128,
  // else 3; each if 32 more once).
  for (
    const [locals, count, kind] of [[1_000, 37, "if"], [
      30,
      980,
      "loop",
    ]] as const
  ) {
    const bytes = heavy(locals, count, kind);
    instrument(bytes, {});
    const guest = await loadGuest(bytes, { timeout: 50 });
    // In this thread's CPU time, which a busy machine does not stretch:
    // the compile and the spin to the deadline run here, and the spin runs
    // for no longer than the 50 ms to its deadline, however late the
    // thread gets its turns.
    const started = threadCpuMs();
    expectOutcome(guest.invoke("run", [0]), "timeout");
    const late = threadCpuMs() - started - 50;
    // Generous slack: the hold measured about 20 ms.
    assert.ok(
      late < 2_000,
      `stopped after ${late.toFixed(0)} ms of CPU time past its deadline`,
    );
    const metered = await loadGuest(bytes, { fuel: 100_000 });
    expectOutcome(metered.invoke("run", [0]), "fuel_exhausted");
  }
});

Deno.test("such a function still runs isolated with a timeout, and stops there", async () => {
  // The child does not rewrite a guest given only a timeout, and is killed
  // at the deadline, compile or not.
  const started = performance.now();
  const result = await invokeIsolated(heavy(40_000, 4_000), "run", [0], {
    timeout: 200,
  });
  expectOutcome(result, "timeout");
  const elapsed = performance.now() - started;
  // Generous slack for a loaded machine; the compile alone took about 4 s.
  assert.ok(elapsed < 3_000, `returned after ${elapsed.toFixed(0)} ms`);
});

/**
 * A guest whose `run(x)` has `locals` `v128` locals besides its parameter,
 * and `ifs` of `if (x) x = 1`, then returns `x`: each `if` the engine's
 * first compile carries every local into (about 110 ns a local, Deno
 * 2.9.6).
 */
function wideIfs(locals: number, ifs: number): Uint8Array<ArrayBuffer> {
  const code = [0x01, ...encodeLeb(locals), 0x7b];
  for (let i = 0; i < ifs; i++) {
    // local.get 0, if, i32.const 1, local.set 0, end
    code.push(0x20, 0x00, 0x04, 0x40, 0x41, 0x01, 0x21, 0x00, 0x0b);
  }
  code.push(0x20, 0x00, 0x0b); // local.get 0; end
  return moduleOf(
    section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]),
    section(3, [0x01, 0x00]),
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]), // "run"
    section(10, [0x01, ...encodeLeb(code.length), ...code]),
  );
}

Deno.test("in a function of over 128 locals each local counts 12, and one of a reference type 32 more: 40,000 locals and 5 ifs are refused in every mode, at 4,096 locals 10 ifs load and 11 do not", async () => {
  // 40,000 locals and 5 ifs held a fresh load's first call 16 to 20 ms of
  // a quiet core, inside the old limit.
  const fix =
    /is over the limit of 1048576, above which the engine's compile at its first call holds the thread past any deadline or stop: split the function or use fewer locals, or run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline \(at byte offset \d+\)$/;
  const refusal = (
    locals: number,
    controls: number,
    ifs: number,
    units: number,
  ) =>
    new RegExp(
      `^function 0 has ${locals} locals and ${controls} control points \\(.*; each local counts 12 in a function of over 128 locals, and each of its ${ifs} ifs and elses 32 more once\\): \\(12 \\* ${locals} \\+ 16\\) \\* ${controls} \\+ 32 \\* ${ifs} = ${units} `,
    );
  const refused =
    (locals: number, controls: number, ifs: number, units: number) =>
    (error: unknown) =>
      isInvalidModule(error) && !error.message.includes("\n") &&
      refusal(locals, controls, ifs, units).test(error.message) &&
      fix.test(error.message);
  const wide = wideIfs(40_000, 5);
  for (
    const options of [
      // A deadline mode whose deadline the narrower guest's first compile
      // cannot pass on a loaded machine (110 ms at 50 ms were seen).
      { timeout: 10_000 },
      { fuel: false, async: true },
      { fuel: 1e9 },
    ] as GuestOptions[]
  ) {
    await assert.rejects(
      () => loadGuest(wide, options),
      refused(40_001, 11, 5, 480_028 * 11 + 32 * 5),
    );
    // A narrower one with one branch of its own loads, and runs.
    const plain = await loadGuest(wideIfs(25_000, 1), options);
    const result = options.async
      ? await plain.invokeAsync("run", [7])
      : plain.invoke("run", [7]);
    assert.equal(expectOutcome(result, "returned").value, 1);
  }
  // At the boundary: (12 * 4,096 + 16) * 21 + 32 * 10 = 1,033,848 loads
  // (an `if` counts 2, and the entry's check 1).
  const edge = await loadGuest(wideIfs(4_095, 10), { timeout: 1_000 });
  assert.equal(expectOutcome(edge.invoke("run", [0]), "returned").value, 0);
  assert.equal(expectOutcome(edge.invoke("run", [3]), "returned").value, 1);
  assert.throws(
    () => instrument(wideIfs(4_095, 11), { fuel: false, stopFlag: true }),
    refused(4_096, 23, 11, 1_131_216),
  );
  // Locals of reference types count 32 more each, once: 40,000 `funcref`
  // locals are refused with no branch at all, 20,000 load.
  const refs = (locals: number) =>
    moduleOf(
      section(1, [0x01, 0x60, 0x00, 0x00]),
      section(3, [0x01, 0x00]),
      section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]), // "run"
      section(10, [
        0x01,
        ...encodeLeb(3 + encodeLeb(locals).length),
        0x01,
        ...encodeLeb(locals),
        0x70,
        0x0b,
      ]),
    );
  await assert.rejects(
    () => loadGuest(refs(40_000), { timeout: 1_000 }),
    (error) =>
      isInvalidModule(error) &&
      /^function 0 has 40000 locals and 1 control points \(.*, and each of its 40000 locals of reference types 32 more once\): \(12 \* 40000 \+ 16\) \* 1 \+ 32 \* 40000 = 1760016 is over the limit of 1048576, /
        .test(error.message) &&
      fix.test(error.message),
  );
  const refGuest = await loadGuest(refs(20_000), { timeout: 1_000 });
  expectOutcome(refGuest.invoke("run"), "returned");
  // 128 locals count 3 each (1,259 ifs load); 129 count 12 each: 331 ifs
  // load, 332 do not.
  instrument(wideIfs(127, 1_259), {});
  instrument(wideIfs(128, 331), {});
  assert.throws(
    () => instrument(wideIfs(128, 332), {}),
    refused(129, 665, 332, 1_564 * 665 + 32 * 332),
  );
});

Deno.test("in a function of at most 128 locals each local counts 3, and an if 2 control points and 32 units: 16 locals and 15,000 ifs are refused, at 128 locals 1,259 ifs load and 1,260 do not", async () => {
  // 16 locals and 15,000 ifs held a first call 41 to 61 ms inside the old
  // limit, 128 locals and 5,000 ifs 72 to 74 ms.
  const message = (
    locals: number,
    controls: number,
    ifs: number,
    units: number,
  ) =>
    `function 0 has ${locals} locals and ${controls} control points (a loop counts 10; an if, else, br_if or br_on_* 2; other branches, br_table targets, returns, traps, throws, tries, catches and checks 1; each local counts 3 in a function of at most 128 locals, and each of its ${ifs} ifs and elses 32 more once): (3 * ${locals} + 16) * ${controls} + 32 * ${ifs} = ${units} is over the limit of 1048576, above which the engine's compile at its first call holds the thread past any deadline or stop: split the function or use fewer locals, or run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline (at byte offset `;
  const refused =
    (locals: number, controls: number, ifs: number, units: number) =>
    (error: unknown) =>
      isInvalidModule(error) && !error.message.includes("\n") &&
      error.message.startsWith(message(locals, controls, ifs, units)) &&
      /\(at byte offset \d+\)$/.test(error.message);
  await assert.rejects(
    () => loadGuest(wideIfs(15, 15_000), { timeout: 1_000 }),
    refused(16, 30_001, 15_000, 2_400_064),
  );
  for (const options of [{}, { stopFlag: true, fuel: false }] as const) {
    assert.throws(
      () => instrument(wideIfs(127, 1_260), options),
      refused(128, 2_521, 1_260, 1_048_720),
    );
  }
  // Just under: (3 * 128 + 16) * 2,519 + 32 * 1,259 = 1,047,888 loads,
  // and runs.
  const edge = await loadGuest(wideIfs(127, 1_259), { timeout: 1_000 });
  assert.equal(expectOutcome(edge.invoke("run", [0]), "returned").value, 0);
  assert.equal(expectOutcome(edge.invoke("run", [5]), "returned").value, 1);
});

/**
 * Operators of each dear kind, and what each adds to a function's compile
 * cost (`MAX_COMPILE_COST`): its bytes plus its weight.
 */
const DEAR: Record<string, [operator: number[], cost: number]> = {
  "call": [[0x10, 0x01], 2 + 256], // call $g
  "call_indirect": [[0x41, 0x00, 0x11, 0x00, 0x00], 5 + 1024],
  "i64.div_s": [[0x42, 0x01, 0x42, 0x01, 0x7f, 0x1a], 6 + 256],
  "i32.trunc_f64_s": [
    [0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0xaa, 0x1a],
    11 + 256,
  ],
  "memory.fill": [[0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 0x0b, 0x00], 9 + 1024],
  "ref.func": [[0xd2, 0x01, 0x1a], 3 + 512],
  // An empty `try_table` and `try … catch_all`: at no weight, 84,000 and
  // 105,000 held a first call 0.2 to 2 s.
  "try_table": [[0x1f, 0x40, 0x00, 0x0b], 4 + 512],
  "try": [[0x06, 0x40, 0x19, 0x0b], 4 + 512],
  // Plain arithmetic, on the `i32.const 0` the body starts with.
  "i32.eqz": [[0x45], 1 + 8],
  // A load of a computed address, a rotation, an atomic read-modify-write
  // and a SIMD popcount between a splat and a lane's extraction: at 8 (32
  // the atomic), a function of any one of them held its first call 20 to
  // 170 ms at the limit.
  "i32.load": [[0x28, 0x02, 0x00], 3 + 64],
  "i32.rotl": [[0x41, 0x01, 0x77], 3 + 96],
  "i32.atomic.rmw.add": [[0x41, 0x00, 0xfe, 0x1e, 0x02, 0x00], 6 + 128],
  "i8x16.popcnt": [
    [0xfd, 0x0f, 0xfd, 0x62, 0xfd, 0x1b, 0x00],
    7 + 16 + 64 + 16,
  ],
};

/**
 * A guest whose `run` is `i32.const 0`, `count` of `operator`, `drop`, then
 * a loop that spins forever (9 bytes with the body's `end`, which weigh
 * nothing more), with `$g: () -> ()` (function 1)
 * in a table for the calls, and a memory.
 */
function dear(operator: number[], count: number): Uint8Array<ArrayBuffer> {
  const code = new Uint8Array(3 + operator.length * count + 7);
  code.set([0x41, 0x00], 1);
  for (let i = 0; i < count; i++) code.set(operator, 3 + operator.length * i);
  code.set(
    [0x1a, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b],
    3 + operator.length * count,
  );
  return moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x02, 0x00, 0x00]),
    section(4, [0x01, 0x70, 0x00, 0x01]),
    section(5, [0x01, 0x00, 0x01]),
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]), // "run"
    section(9, [0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x01]),
    section(10, [
      0x02,
      ...encodeLeb(code.length),
      ...code,
      ...[0x02, 0x00, 0x0b],
    ]),
  );
}

/** The most a function's compile cost may be (`MAX_COMPILE_COST`). */
const MOST_COST = 1 << 21;

Deno.test("a function of operators dearer to compile than the limit is refused; at the limit it loads and stops", async () => {
  // Before, 16,384 calls held a first call 66 to 77 ms, 100,000
  // `memory.fill`s (900 KB) 0.5 s, and a 7 MB function of `i32.add`s
  // 160 ms, on 2 busy cores: each kind is weighed now.
  for (const [name, [operator, each]] of Object.entries(DEAR)) {
    const most = Math.floor((MOST_COST - 9) / each);
    const over = dear(operator, most + 1);
    assert.ok(WebAssembly.validate(over), name);
    const cost = 9 + (most + 1) * each;
    const refused = (error: unknown) =>
      isInvalidModule(error) &&
      error.message.startsWith(
        `function 0 has a compile cost of ${cost} (its bytes, and each operator, call, block type, nesting level and value on the operand stack weighed as docs/rewriter.md#refused-functions lists), `,
      ) && error.message.includes(`, over the limit of ${MOST_COST}, `) &&
      /split the function, or run it with invokeIsolated/.test(
        error.message,
      ) && !error.message.includes("\n");
    for (const options of [{}, { stopFlag: true, fuel: false }] as const) {
      assert.throws(() => instrument(over, options), refused, name);
    }
    await assert.rejects(() => loadGuest(over, { timeout: 50 }), refused);
    const atLimit = dear(operator, most);
    instrument(atLimit, { stopFlag: true, fuel: false });
    // At the limit: loaded, and the spin after the operators stops. (The
    // kinds of few bytes each; the rest take long to rewrite.)
    if (operator.length <= 9) {
      const guest = await loadGuest(atLimit, { timeout: 50 });
      expectOutcome(guest.invoke("run"), "timeout");
    }
  }
  const [call, each] = DEAR.call!;
  const metered = await loadGuest(
    dear(call, Math.floor((MOST_COST - 9) / each)),
    { fuel: 1e15 },
  );
  expectOutcome(metered.invoke("run", [], { fuel: 1e6 }), "fuel_exhausted");
});

/**
 * A guest whose `f` (or, for a WASI command, `_start`) is `depth` nested
 * empty blocks.
 */
function nested(depth: number, command = false): Uint8Array<ArrayBuffer> {
  const code = new Uint8Array(1 + 3 * depth + 1);
  for (let i = 0; i < depth; i++) code.set([0x02, 0x40], 1 + 2 * i);
  code.fill(0x0b, 1 + 2 * depth);
  const body = [...encodeLeb(code.length), ...code];
  return moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x01, 0x00]),
    command
      ? section(7, [0x01, 0x06, ...new TextEncoder().encode("_start"), 0, 0])
      : section(7, [0x01, 0x01, 0x66, 0x00, 0x00]), // "f"
    section(10, [0x01, ...body]),
  );
}

Deno.test("a function nesting its blocks deeper than 65,535 is refused, rewritten or not", async () => {
  // 1,000,000 nested empty blocks (3 MB) held the first call 0.7 s past a
  // 100 ms deadline: the engine's compile of deep nesting is slow.
  const bytes = nested(65_536);
  assert.ok(WebAssembly.validate(bytes));
  const refused = (error: unknown) =>
    isInvalidModule(error) &&
    /^function 0 nests its blocks, loops, ifs and tries more than 65535 deep, .*: nest them less deeply, or run it with invokeIsolated/
      .test(error.message);
  // A plain load compiles the guest as it is, and the engine's validation
  // of it is what is refused: it is checked before the engine sees it.
  for (const options of [{ timeout: 100 }, { fuel: 1e9 }, {}]) {
    await assert.rejects(() => loadGuest(bytes, options), refused);
  }
  await assert.rejects(() => loadGuest(bytes), refused);
  // From a URL too, where it would otherwise be compiled as it downloads.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(bytes, { headers: { "content-type": "application/wasm" } }),
  );
  try {
    const { port } = server.addr as Deno.NetAddr;
    await assert.rejects(
      () => loadGuest(`http://127.0.0.1:${port}/deep.wasm`),
      refused,
    );
  } finally {
    await server.shutdown();
  }
  assert.throws(() => instrument(bytes), refused);
  // A WASI command run without stops loads as it is, too.
  // runWasi names no invokeIsolated, which runs no WASI command.
  await assert.rejects(
    () => runWasi(nested(65_536, true)),
    (error: unknown) =>
      isInvalidModule(error) &&
      /^function \d+ nests its blocks, .*: nest them less deeply \(at byte offset \d+\)$/
        .test(error.message),
  );
  // One level less is weighed: each level past 4,096 weighs 512 in the
  // compile cost (V8 took 187 to 232 ms of thread CPU to compile 64,534),
  // which takes 8,143 at most, rewritten or not.
  for (const options of [{ timeout: 10_000 }, {}]) {
    await assert.rejects(
      () => loadGuest(nested(65_535), options),
      (error) =>
        isInvalidModule(error) &&
        /^function 0 has a compile cost of \d+ \(.*\), over the limit of /
          .test(error.message),
    );
    const guest = await loadGuest(nested(8_143), options);
    expectOutcome(guest.invoke("f"), "returned");
  }
  assert.throws(() => instrument(nested(8_144)), isInvalidModule);
  await assert.rejects(() => loadGuest(nested(8_144)), isInvalidModule);
});

/**
 * A guest whose `run` makes `count` calls of `$pile: () -> i32 × results`,
 * then as many of `$take: (i32 × results) -> ()`, then spins: the calls pile
 * `count × results` values on the operand stack and take them back.
 */
function piled(count: number, results: number): Uint8Array<ArrayBuffer> {
  const ints = Array(results).fill(0x7f);
  const code = [0x00];
  for (let i = 0; i < count; i++) code.push(0x10, 0x00);
  for (let i = 0; i < count; i++) code.push(0x10, 0x01);
  code.push(0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b);
  return moduleOf(
    section(1, [
      0x03,
      ...[0x60, 0x00, ...encodeLeb(results), ...ints],
      ...[0x60, ...encodeLeb(results), ...ints, 0x00],
      ...[0x60, 0x00, 0x00],
    ]),
    section(3, [0x03, 0x00, 0x01, 0x02]),
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x02]), // "run"
    section(10, [
      0x03,
      ...[0x03, 0x00, 0x00, 0x0b], // $pile: unreachable
      ...[0x02, 0x00, 0x0b], // $take
      ...encodeLeb(code.length),
      ...code,
    ]),
  );
}

/**
 * The same pile made by catches: `run` makes `count` times a block of
 * `values` results, into which a `try_table` catches `$tag` (of `values`
 * parameters), thrown by nothing, then takes them back with calls of
 * `$take`, then spins.
 */
function piledByCatches(
  count: number,
  values: number,
): Uint8Array<ArrayBuffer> {
  const ints = Array(values).fill(0x7f);
  const code = [0x00];
  for (let i = 0; i < count; i++) {
    // block (type 0) try_table (catch $tag 0) end unreachable end
    code.push(0x02, 0x00, 0x1f, 0x40, 0x01, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x0b);
  }
  for (let i = 0; i < count; i++) code.push(0x10, 0x00);
  code.push(0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b);
  return moduleOf(
    section(1, [
      0x03,
      ...[0x60, 0x00, ...encodeLeb(values), ...ints],
      ...[0x60, ...encodeLeb(values), ...ints, 0x00],
      ...[0x60, 0x00, 0x00],
    ]),
    section(3, [0x03, 0x01, 0x02, 0x02]),
    section(13, [0x01, 0x00, 0x01]), // $tag: (i32 × values)
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x02]), // "run"
    section(10, [
      0x03,
      ...[0x02, 0x00, 0x0b], // $take
      ...[0x02, 0x00, 0x0b], // unused
      ...encodeLeb(code.length),
      ...code,
    ]),
  );
}

Deno.test("a function piling up many values from calls or catches is refused: each value after the first one pushes weighs as a call", async () => {
  // 30 calls of 1,000 results: 2,000,000 before, 60 calls at 258 each:
  // 4,000 such calls (18 KB) held a first call 25 to 37 s past a 50 ms
  // deadline, as V8's compile handled the whole pile at every call.
  const over = piled(30, 1_000);
  assert.ok(WebAssembly.validate(over));
  // Its code's bytes (after the locals), its calls, the results past each
  // call's first, the values on the stack under each call (half each, past
  // the first 16: 1,000 more at each of the first 30, 1,000 fewer at
  // each of the last 30), its greatest height (64 a value past 16), and
  // the parameters of the calls that take the values back (4 each).
  let under = 0;
  for (let k = 1; k < 30; k++) under += (1_000 * k - 16) * 8 >> 4;
  for (let k = 30; k >= 1; k--) under += (1_000 * k - 16) * 8 >> 4;
  const cost = (60 * 2 + 6) + 60 * 256 + 30 * 999 * 256 + under +
    (30_000 - 16) * 64 + 30 * 1_000 * 4;
  const refused = (error: unknown) =>
    isInvalidModule(error) &&
    error.message.startsWith(
      `function 2 has a compile cost of ${cost} (`,
    ) && !error.message.includes("\n");
  for (const options of [{}, { stopFlag: true, fuel: false }] as const) {
    assert.throws(() => instrument(over, options), refused);
  }
  const modes: GuestOptions[] = [
    { timeout: 50 },
    { fuel: 1e9 },
    { fuel: false, timeout: 50 },
    { async: true },
  ];
  for (const options of modes) {
    await assert.rejects(() => loadGuest(over, options), refused);
  }
  // The values a catch pushes weigh the same: 30 catches of a tag of 1,000
  // values, each into a block of their type (300 such catches and 2,000
  // calls after them held a first call 47 s, before any check).
  const caught = piledByCatches(30, 1_000);
  assert.ok(WebAssembly.validate(caught));
  for (const options of modes) {
    await assert.rejects(
      () => loadGuest(caught, options),
      (error) =>
        isInvalidModule(error) && (
          /^function 2 has a compile cost of \d+ /.test(error.message) &&
            // Its bytes and its 30 `try_table`s (512 each) are far below.
            Number(/cost of (\d+)/.exec(error.message)![1]) >=
              30 * 999 * 256 ||
          // Or, first, its control points over the pile.
          /^function 2 has 0 locals and \d+ control points .* and \d+ values on the operand stack at them, 16 each: /
            .test(error.message)
        ),
    );
  }
  // Calls of two results, as real code makes, load and run.
  const guest = await loadGuest(piled(1_000, 2), { timeout: 50 });
  expectOutcome(guest.invoke("run"), "trap");
});

/**
 * A guest whose `run` piles `height` constants on the operand stack, then
 * makes `calls` calls over them: of `$g: () -> ()` (function 1), the last
 * of `$spin` (function 2), which loops forever.
 */
function pile(height: number, calls: number): Uint8Array<ArrayBuffer> {
  const code = new Uint8Array(1 + 2 * height + 2 * calls + 2);
  for (let i = 0; i < height; i++) code[1 + 2 * i] = 0x41; // i32.const 0
  for (let i = 0; i < calls; i++) {
    code.set([0x10, i === calls - 1 ? 0x02 : 0x01], 1 + 2 * height + 2 * i);
  }
  code.set([0x00, 0x0b], code.length - 2); // unreachable, end
  return moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x03, 0x00, 0x00, 0x00]),
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]), // "run"
    section(10, [
      0x03,
      ...encodeLeb(code.length),
      ...code,
      ...[0x02, 0x00, 0x0b], // $g
      ...[0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b], // $spin
    ]),
  );
}

/**
 * The compile cost the rewrite gives `pile(height, calls)`'s `run`: its
 * bytes, 256 a call, half of each value under a call past the first 16,
 * and 64 a value of its greatest height past 16.
 */
function pileCost(height: number, calls: number): number {
  return 2 * height + 2 * calls + 2 + 256 * calls +
    calls * ((height - 16) * 8 >> 4) + (height - 16) * 64;
}

/** What the weights before gave it: its bytes and 256 a call. */
function pileCostBefore(height: number, calls: number): number {
  return 2 * height + 2 * calls + 2 + 256 * calls;
}

Deno.test("a pile of values on the operand stack weighs at every call over it, and by its height", async () => {
  // 250,000 constants and 4,000 calls over them: under the weights before
  // (each a constant 2, a call 258), which let it hold its first call 0.4
  // to 0.6 s; and 40,000 constants alone, which held it about 10 ms a
  // 10,000.
  for (const [height, calls] of [[250_000, 4_000], [40_000, 1]]) {
    assert.ok(pileCostBefore(height, calls) < MOST_COST);
    const over = pile(height, calls);
    assert.ok(WebAssembly.validate(over));
    const refused = (error: unknown) =>
      isInvalidModule(error) &&
      error.message.startsWith(
        `function 0 has a compile cost of ${pileCost(height, calls)} (`,
      ) && error.message.includes("value on the operand stack") &&
      error.message.includes(`, over the limit of ${MOST_COST}, `) &&
      !error.message.includes("\n");
    for (const options of [{}, { stopFlag: true, fuel: false }] as const) {
      assert.throws(() => instrument(over, options), refused);
    }
    await assert.rejects(() => loadGuest(over, { timeout: 50 }), refused);
  }
  // Just under the limit, over 1,000 values, it loads and stops at its
  // deadline; one call more is refused (the weights before let 8,120
  // calls through).
  let calls = 1;
  while (pileCost(1_000, calls + 1) <= MOST_COST) calls++;
  assert.ok(pileCostBefore(1_000, 2 * calls) < MOST_COST);
  assert.throws(
    () => instrument(pile(1_000, calls + 1), {}),
    (error) =>
      isInvalidModule(error) &&
      error.message.startsWith(
        `function 0 has a compile cost of ${pileCost(1_000, calls + 1)} `,
      ),
  );
  const guest = await loadGuest(pile(1_000, calls), { timeout: 50 });
  expectOutcome(guest.invoke("run"), "timeout");
  const metered = await loadGuest(pile(1_000, calls), { fuel: 1e15 });
  expectOutcome(metered.invoke("run", [], { fuel: 1e6 }), "fuel_exhausted");
});

Deno.test("values on the operand stack at branches count as locals do", async () => {
  // 2,000 constants, then 60 `br_if`s out of empty blocks over them: a few
  // hundred units as the locals count them, 2,000 values at each.
  const code = [0x00];
  for (let i = 0; i < 2_000; i++) code.push(0x41, 0x00);
  for (let i = 0; i < 60; i++) {
    code.push(0x02, 0x40, 0x41, 0x00, 0x0d, 0x00, 0x0b);
  }
  code.push(0x00, 0x0b);
  const bytes = moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x01, 0x00]),
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]), // "run"
    section(10, [0x01, ...encodeLeb(code.length), ...code]),
  );
  assert.ok(WebAssembly.validate(bytes));
  const refused = (error: unknown) => {
    if (!isInvalidModule(error)) return false;
    const found =
      /^function 0 has 0 locals and (\d+) control points \(.*\) and (\d+) values on the operand stack at them, 16 each: \(3 \* 0 \+ 16\) \* \d+ \+ 16 \* \d+ = (\d+) is over the limit of 1048576, /
        .exec(error.message);
    if (found === null || error.message.includes("\n")) return false;
    const [controls, values, units] = found.slice(1).map(Number);
    // The locals alone are far under the limit; the values, over it.
    return 16 * controls! < 2_000 && values! >= 60 * 2_000 &&
      units === 16 * controls! + 16 * values!;
  };
  for (const options of [{}, { stopFlag: true, fuel: false }] as const) {
    assert.throws(() => instrument(bytes, options), refused);
  }
  await assert.rejects(() => loadGuest(bytes, { timeout: 50 }), refused);
});

/**
 * What a Worker's `instrument()` makes of a function nesting `depth`
 * blocks of each kind: `rewritten`, the branded `InvalidModule`'s first
 * words, or any other error as it is (a stack overflow of the rewriter's).
 */
async function nestedInWorker(
  depths: number[],
): Promise<Record<string, string>> {
  const source = `
    import { instrument } from "${new URL(
    "../src/wasm/mod.ts",
    import.meta.url,
  )}";
    import { isInvalidModule } from "${new URL(
    "../src/errors.ts",
    import.meta.url,
  )}";
    const KINDS = {
      block: [[0x02, 0x40], [0x0b]],
      if: [[0x41, 0x00, 0x04, 0x40], [0x0b]],
      try_table: [[0x1f, 0x40, 0x00], [0x0b]],
      try: [[0x06, 0x40], [0x0b]],
    };
    const leb = (n) => {
      const out = [];
      do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
      return out;
    };
    const section = (id, content) => [id, ...leb(content.length), ...content];
    const seen = {};
    for (const depth of ${JSON.stringify(depths)}) {
      for (const [kind, [open, close]] of Object.entries(KINDS)) {
        const code = [0x00];
        for (let i = 0; i < depth; i++) code.push(...open);
        for (let i = 0; i < depth; i++) code.push(...close);
        code.push(0x0b);
        const bytes = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
          ...section(1, [0x01, 0x60, 0x00, 0x00]), ...section(3, [0x01, 0x00]),
          ...section(10, [0x01, ...leb(code.length), ...code])]);
        try {
          instrument(bytes, { stopFlag: true, fuel: false });
          seen[kind + " " + depth] = "rewritten";
        } catch (error) {
          seen[kind + " " + depth] = isInvalidModule(error)
            ? "InvalidModule: " + error.message.split(" ").slice(0, 4).join(" ")
            : String(error);
        }
      }
    }
    self.postMessage(seen);`;
  const url = URL.createObjectURL(
    new Blob([source], { type: "application/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}

/**
 * A guest whose `run` has `locals` locals of `type` (i32 unless given),
 * calls an empty function `calls` times, then spins forever.
 */
function callsOverLocals(
  locals: number,
  calls: number,
  type = 0x7f, // i32
): Uint8Array<ArrayBuffer> {
  const code = [0x01, ...encodeLeb(locals), type];
  for (let i = 0; i < calls; i++) code.push(0x10, 0x00); // call 0
  code.push(0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b); // loop, br 0, end; end
  return moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x02, 0x00, 0x00]),
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x01]), // "run"
    section(10, [0x02, 0x02, 0x00, 0x0b, ...encodeLeb(code.length), ...code]),
  );
}

Deno.test("a function's locals weigh at every call, as the values on its operand stack do", async () => {
  // 8,000 calls over 49,000 locals, under the limit when only the calls
  // weighed (256 each, and the body's bytes), held the engine's first
  // compile about 0.4 s past a 20 ms deadline; so many locals are now
  // refused for their control points alone, but over 7,000 locals (within
  // the compile-units limit) the calls still need to weigh by the locals.
  const over = callsOverLocals(7_000, 8_000);
  assert.ok(over.length + 8_000 * 256 < MOST_COST);
  // Each call weighs half a unit a stack value, a quarter of that a local.
  const cost = 8_000 * 256 + 7_000 * 8_000 / 8;
  const refused = (error: unknown) =>
    isInvalidModule(error) &&
    /^function 1 has a compile cost of \d+ \(.*\), over the limit of /
      .test(error.message) &&
    Number(/compile cost of (\d+)/.exec(error.message)![1]) > cost &&
    !error.message.includes("\n");
  for (const options of [{}, { stopFlag: true, fuel: false }] as const) {
    assert.throws(() => instrument(over, options), refused);
  }
  await assert.rejects(() => loadGuest(over, { timeout: 50 }), refused);
  // 200 calls over as many locals load, and stop at the deadline.
  const under = callsOverLocals(7_000, 200);
  const guest = await loadGuest(under, { timeout: 20 });
  expectOutcome(guest.invoke("run"), "timeout");
  // A local of a reference type weighs 4: 1,000 calls over 5,000
  // `externref` locals are refused, over as many `i32` locals they are not.
  const references = callsOverLocals(5_000, 1_000, 0x6f);
  assert.ok(WebAssembly.validate(references));
  assert.throws(
    () => instrument(references, { stopFlag: true, fuel: false }),
    (error) =>
      isInvalidModule(error) &&
      /^function 1 has a compile cost of \d+ /.test(error.message) &&
      Number(/compile cost of (\d+)/.exec(error.message)![1]) >
        5_000 * 4 * 1_000 / 8,
  );
  instrument(callsOverLocals(5_000, 1_000), { stopFlag: true, fuel: false });
});

Deno.test("in a Worker, the rewriter reads 65,535 nested blocks, ifs, try_tables and tries without overflowing its stack, and refuses one more", async () => {
  const seen = await nestedInWorker([65_535, 65_536]);
  const tooDeep = "InvalidModule: function 0 nests its";
  // A try_table and a try of 65,535 are refused for their compile units
  // (two control points each), and so are as many ifs (an `if` counts 2);
  // blocks for their compile cost, each level past 4,096 weighing 512:
  // refused once read to the end, and branded.
  const tooDear = "InvalidModule: function 0 has 0";
  assert.deepEqual(seen, {
    "block 65535": "InvalidModule: function 0 has a",
    "if 65535": tooDear,
    "try_table 65535": tooDear,
    "try 65535": tooDear,
    "block 65536": tooDeep,
    "if 65536": tooDeep,
    "try_table 65536": tooDeep,
    "try 65536": tooDeep,
  });
});
