/**
 * A guest loaded in this process may have at most `MAX_MEMORIES` memories,
 * tables of at most `MAX_TABLE_ELEMENTS` elements together, `MAX_BINDINGS`
 * imports and as many exports, `MAX_TAGS_AND_SEGMENTS` tags and as many
 * element segments, and functions, globals and table elements weighing
 * `MAX_INSTANTIATION_WORK` together: nothing can cut the engine's
 * instantiation short, and
 * many memories or large tables end the whole process (out of memory) or
 * hold it for minutes, many exports for seconds. Such a guest is refused with `GuestLoadError` (reason `limits`) before the
 * engine sees it; `invokeIsolated` loads it, where a failure ends only the
 * child. The bombs run in child processes, so that this process survives
 * whatever happens.
 */

import assert from "./support/assert.ts";
import { runInSmallHeap } from "./support/small_heap_child.ts";
import { stopFromWorker } from "./support/worker_stop.ts";
import {
  FuelMeter,
  isAborted,
  isDeadlineExceeded,
  isGuestLoadError,
  loadGuest,
  runWasi,
  StopSignal,
} from "../mod.ts";
import {
  INSTANTIATION_WEIGHTS,
  MAX_INSTANTIATION_WORK,
} from "../src/module/instantiation_work.ts";
import {
  MAX_PASSIVE_FIRST_READ_WORK,
  PASSIVE_WEIGHTS,
} from "../src/module/passive_segments.ts";
import {
  MAX_ALLOCATED_ELEMENTS,
  MAX_BINDINGS,
  MAX_MEMORIES,
  MAX_TABLE_ELEMENTS,
  MAX_TAGS_AND_SEGMENTS,
} from "../src/module/instance_size.ts";
import { encodeLeb as leb } from "./support/module_bytes.ts";

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

interface Shape {
  /** Imported memories, `(memory 0)` each. */
  importedMemories?: number;
  /** Defined memories, each as these limit bytes. */
  memories?: { count: number; limits: number[] };
  /** Defined funcref tables' initial sizes. */
  tables?: number[];
}

/** A module of that shape, exporting `f: () -> i32` returning 7. */
function moduleOf(shape: Shape): Uint8Array {
  const imports: number[] = [...leb(shape.importedMemories ?? 0)];
  for (let i = 0; i < (shape.importedMemories ?? 0); i++) {
    const name = [...new TextEncoder().encode(`m${i}`)];
    imports.push(1, 0x65, name.length, ...name, 0x02, 0x00, 0x00);
  }
  const memories: number[] = [...leb(shape.memories?.count ?? 0)];
  for (let i = 0; i < (shape.memories?.count ?? 0); i++) {
    memories.push(...shape.memories!.limits);
  }
  const tables: number[] = [...leb(shape.tables?.length ?? 0)];
  for (const size of shape.tables ?? []) tables.push(0x70, 0x00, ...leb(size));
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 0, 1, 0x7f]),
    ...section(2, imports),
    ...section(3, [1, 0]),
    ...section(4, tables),
    ...section(5, memories),
    ...section(7, [1, 1, 0x66, 0x00, 0]),
    ...section(10, [1, 4, 0, 0x41, 7, 0x0b]),
  ]);
}

/** `(memory 1 65536 shared)`. */
const SHARED = [0x03, 1, ...leb(65536)];
/** `(memory 0)`. */
const EMPTY = [0x00, 0];

/** How each load ended in a child: its error's kind, reason and message. */
interface Ending {
  load: string;
  outcome: string;
  reason?: string;
  message?: string;
}

/**
 * Runs each load (a JS expression using `bytes`) in one child, ended as
 * hung after `guardMs` (at least the usual guard).
 */
async function loadsInChild(
  bytes: Uint8Array,
  loads: string[],
  guardMs?: number,
): Promise<{ code: number; report?: Ending[]; stderr: string }> {
  // Read from a file: such bytes are too long for a command line.
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  await Deno.writeFile(path, bytes);
  try {
    return await runInSmallHeap<Ending[]>(
      `
    import { FuelMeter, invokeIsolated, loadGuest, runWasi } from "./mod.ts";
    const bytes = Deno.readFileSync(${JSON.stringify(path)});
    const endings = [];
    for (const [load, run] of [${
        loads.map((load) => `[${JSON.stringify(load)}, () => ${load}]`).join(
          ", ",
        )
      }]) {
      try {
        const value = await run();
        endings.push({
          load,
          outcome: value?.outcome ?? "loaded",
          message: value?.error?.message,
          trap: value?.error?.trap,
        });
      } catch (error) {
        endings.push({
          load,
          outcome: error?.kind ?? String(error),
          reason: error?.reason,
          message: error?.message,
        });
      }
    }
    console.log(JSON.stringify(endings));
  `,
      1024,
      guardMs,
    );
  } finally {
    await Deno.remove(path);
  }
}

/**
 * Runs each of `loads` on `bytes` in a child, which must survive them all,
 * and checks that each was refused for its limits with `message`.
 */
async function assertRefusedInChild(
  bytes: Uint8Array,
  loads: string[],
  message: RegExp,
): Promise<void> {
  const child = await loadsInChild(bytes, loads);
  assert.equal(child.code, 0, child.stderr);
  assert.equal(child.report?.length, loads.length, child.stderr);
  for (const ending of child.report!) {
    assert.equal(ending.outcome, "GuestLoadError", ending.load);
    assert.equal(ending.reason, "limits", ending.load);
    assert.match(ending.message!, message, ending.load);
    // runWasi names no invokeIsolated, which runs no WASI command.
    assert.equal(
      ending.message!.endsWith(
        ", or run it with invokeIsolated, where a failed instantiation ends only the child process",
      ),
      !ending.load.startsWith("runWasi"),
      ending.load,
    );
  }
}

Deno.test("40,000 shared memories are refused by every in-process loader, in a child that survives", async () => {
  const bytes = moduleOf({ memories: { count: 40_000, limits: SHARED } });
  const loads = [
    "loadGuest(bytes)",
    "loadGuest(bytes, { fuel: 1e6 })",
    "loadGuest(bytes, { limits: { memory: 16 * 1024 * 1024 } })",
    "loadGuest(bytes, { timeout: 10_000 })",
    "runWasi(bytes)",
    "new FuelMeter(bytes, { fuel: 1e6 })",
  ];
  await assertRefusedInChild(
    bytes,
    loads,
    /has 40000 memories \(imported and defined\), more than the 100 a guest instantiated in this process may have .*; give the guest fewer memories(, or |$)/,
  );
});

Deno.test("40,000 empty memories are refused at once rather than instantiated for minutes", async () => {
  const bytes = moduleOf({ memories: { count: 40_000, limits: EMPTY } });
  const child = await loadsInChild(bytes, ["loadGuest(bytes)"]);
  assert.equal(child.code, 0, child.stderr);
  assert.equal(child.report?.[0]?.outcome, "GuestLoadError");
  assert.match(child.report![0]!.message!, /has 40000 memories/);
});

Deno.test("the memory cap counts imported and defined memories; at the cap a guest loads", async () => {
  assert.equal(MAX_MEMORIES, 100);
  const at = moduleOf({ memories: { count: MAX_MEMORIES, limits: SHARED } });
  assert.equal((await loadGuest(at)).call("f"), 7);
  assert.equal((await loadGuest(at, { fuel: 1e6 })).call("f"), 7);
  const over = moduleOf({
    importedMemories: 60,
    memories: { count: MAX_MEMORIES - 59, limits: EMPTY },
  });
  for (
    const load of [() => loadGuest(over), () => loadGuest(over, { fuel: 1e6 })]
  ) {
    await assert.rejects(
      load(),
      (error: unknown) =>
        isGuestLoadError(error) && error.reason === "limits" &&
        /^bytes has 101 memories/.test(error.message),
    );
  }
  assert.throws(
    () => new FuelMeter(over),
    (error: unknown) =>
      isGuestLoadError(error) &&
      /^the module has 101 memories/.test(error.message),
  );
});

Deno.test("tables starting with more than the cap's elements together are refused, in a child that survives", async () => {
  const bytes = moduleOf({
    tables: [10_000_000, 10_000_000, 10_000_000, 10_000_000],
  });
  const loads = [
    "loadGuest(bytes)",
    "loadGuest(bytes, { limits: { tables: 10_000_000 } })",
    "loadGuest(bytes, { fuel: 1e9 })",
  ];
  await assertRefusedInChild(
    bytes,
    loads,
    /has tables that start with 40000000 elements together, more than the 1000000 .*; give the guest smaller tables, or run it with invokeIsolated/,
  );
});

Deno.test("tables at the element cap load; one element more is refused", async () => {
  assert.equal(MAX_TABLE_ELEMENTS, 1_000_000);
  const at = moduleOf({
    tables: [MAX_TABLE_ELEMENTS / 2, MAX_TABLE_ELEMENTS / 2],
  });
  assert.equal((await loadGuest(at)).call("f"), 7);
  const over = moduleOf({
    tables: [MAX_TABLE_ELEMENTS / 2, MAX_TABLE_ELEMENTS / 2 + 1],
  });
  await assert.rejects(
    loadGuest(over),
    (error: unknown) =>
      isGuestLoadError(error) && error.reason === "limits" &&
      /1000001 elements together/.test(error.message),
  );
});

Deno.test("invokeIsolated loads past the caps, and a child that dies instantiating is reported", async () => {
  // No deadline: on a busy machine the child may take a minute to start
  // and instantiate, and a deadline would turn that into a timeout. A
  // child that hangs is still ended with the one that calls it.
  const loads = [`invokeIsolated(bytes, "f", [])`];
  const over = moduleOf({
    memories: { count: MAX_MEMORIES + 1, limits: SHARED },
  });
  const started = performance.now();
  const loaded = await loadsInChild(over, loads);
  const took = performance.now() - started;
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.equal(loaded.report?.[0]?.outcome, "returned", loaded.stderr);
  const bomb = moduleOf({ memories: { count: 40_000, limits: SHARED } });
  // With limits.memory lifting the default total (which holds each of
  // these memories to a page), the bomb's two children start as those
  // did, then reserve address space for memories until there is none left
  // (about two seconds of work on a quiet machine): on a busy machine all
  // of it is slower alike, so the hang guard grows with what the load
  // above took.
  const died = await loadsInChild(bomb, [
    `invokeIsolated(bytes, "f", [], { limits: { memory: 2 ** 32 } })`,
  ], 8 * took);
  assert.equal(died.code, 0, died.stderr);
  // Its child ran out of memory: an outcome, not a hang or a crash here.
  // (Under load its engine has also thrown a RangeError at instantiation
  // rather than end it, once reported as a trap, now as this outcome; and
  // once a load error: the report, with the messages, says which if any.)
  assert.equal(
    died.report?.[0]?.outcome,
    "out_of_memory",
    `${JSON.stringify(died.report)} ${died.stderr}`,
  );
  // Not its heap: the system refused it address space, and the fix is
  // fewer memories, not a larger heap.
  assert.match(
    died.report![0]!.message!,
    /the system refused its V8 more memory or address space, below its heap limit .*; give the guest fewer or smaller memories$/,
  );
});

/**
 * `(type $bytes (array (mut i8)))`, one global per length, each
 * `(ref $bytes) (array.new_default $bytes (i32.const length))`, and `f`
 * returning 7; with `passive`, the arrays are a passive element segment's
 * instead.
 */
function allocatingModule(lengths: number[], passive = false): Uint8Array {
  const news = lengths.map((length) => [
    ...[0x41, ...leb(length), 0xfb, 0x07, 0x00, 0x0b],
  ]);
  const globals = [
    ...leb(lengths.length),
    ...news.flatMap((expr) => [0x64, 0x00, 0x00, ...expr]),
  ];
  // Flags 5: passive, with expressions of type (ref null $bytes).
  const segment = [1, 5, 0x63, 0x00, ...leb(lengths.length), ...news.flat()];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [2, 0x5e, 0x78, 0x01, 0x60, 0, 1, 0x7f]),
    ...section(3, [1, 1]),
    ...(passive ? [] : section(6, globals)),
    ...section(7, [1, 1, 0x66, 0x00, 0]),
    ...(passive ? section(9, segment) : []),
    ...section(10, [1, 4, 0, 0x41, 7, 0x0b]),
  ]);
}

Deno.test("constant expressions allocating past the cap are refused by every in-process loader, in a child that survives", async () => {
  // Four arrays of 500,000,000 bytes: 89 bytes of module, which ended a
  // host with a 1 GiB heap under timeout and limits.
  const bytes = allocatingModule([
    500_000_000,
    500_000_000,
    500_000_000,
    500_000_000,
  ]);
  assert.ok(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>));
  const loads = [
    "loadGuest(bytes)",
    "loadGuest(bytes, { timeout: 10_000 })",
    "loadGuest(bytes, { limits: { memory: 65536, tables: 10 } })",
    "loadGuest(bytes, { fuel: 1e12 })",
    "new FuelMeter(bytes, { fuel: 1e12 })",
  ];
  await assertRefusedInChild(
    bytes,
    loads,
    /allocates 2000000000 struct fields and array elements in its constant expressions .*, more than the 16777216 a guest instantiated in this process may .*; give the guest smaller initial objects, or run it with invokeIsolated/,
  );
});

Deno.test("allocations at the cap load; one element more is refused, in globals or in a passive segment", async () => {
  assert.equal(MAX_ALLOCATED_ELEMENTS, 16_777_216);
  const half = MAX_ALLOCATED_ELEMENTS / 2;
  assert.equal((await loadGuest(allocatingModule([half, half]))).call("f"), 7);
  for (const passive of [false, true]) {
    await assert.rejects(
      loadGuest(allocatingModule([half, half + 1], passive)),
      (error: unknown) =>
        isGuestLoadError(error) && error.reason === "limits" &&
        /allocates 16777217 struct fields/.test(error.message),
      passive ? "passive" : "globals",
    );
  }
});

/** How many of each entry the engine makes one by one as it instantiates. */
interface Entries {
  /** Exports of `f`, the first named `_start`, the others by number. */
  exports?: number;
  /** Imports of `env.g: () -> ()`. */
  imports?: number;
  /** Tags of type `() -> ()`. */
  tags?: number;
  /** Passive element segments, each of `f`. */
  segments?: number;
}

/** A module of those entries and `f: () -> i32` returning 7. */
function entriesModule(shape: Entries): Uint8Array<ArrayBuffer> {
  const { exports = 1, imports = 0, tags = 0, segments = 0 } = shape;
  const exported: number[] = [...leb(exports)];
  for (let i = 0; i < exports; i++) {
    const name = [...new TextEncoder().encode(i === 0 ? "_start" : `${i}`)];
    exported.push(name.length, ...name, 0x00, ...leb(imports));
  }
  const imported: number[] = [...leb(imports)];
  for (let i = 0; i < imports; i++) {
    imported.push(3, 0x65, 0x6e, 0x76, 1, 0x67, 0x00, 1);
  }
  const tagged: number[] = [...leb(tags)];
  for (let i = 0; i < tags; i++) tagged.push(0, 1);
  const elements: number[] = [...leb(segments)];
  for (let i = 0; i < segments; i++) elements.push(1, 0, 1, ...leb(imports));
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [2, 0x60, 0, 1, 0x7f, 0x60, 0, 0]),
    ...section(2, imported),
    ...section(3, [1, 0]),
    ...section(13, tagged),
    ...section(7, exported),
    ...section(9, elements),
    ...section(10, [1, 4, 0, 0x41, 7, 0x0b]),
  ]);
}

function refusedFor(
  count: number,
  what: string,
  most: number,
  label = "bytes",
  isolated: boolean = true,
) {
  return (error: unknown) =>
    isGuestLoadError(error) && error.reason === "limits" &&
    error.message.startsWith(
      `${label} has ${count} ${what}, more than the ${most} a guest instantiated in this process may have`,
    ) &&
    error.message.endsWith(
      `give the guest fewer ${what}${isolatedFix(isolated)}`,
    );
}

/** The end of a refusal's fix: runWasi's names no invokeIsolated. */
function isolatedFix(isolated: boolean): string {
  return isolated
    ? ", or run it with invokeIsolated, where a failed instantiation ends only the child process"
    : "";
}

Deno.test("a guest of one import, export, tag or element segment more than the caps is refused by every in-process loader", async () => {
  assert.equal(MAX_BINDINGS, 10_000);
  assert.equal(MAX_TAGS_AND_SEGMENTS, 100_000);
  const imports = { env: { g: () => {} } };
  const over: [Entries, string, number][] = [
    [{ exports: MAX_BINDINGS + 1 }, "exports", MAX_BINDINGS],
    [{ imports: MAX_BINDINGS + 1 }, "imports", MAX_BINDINGS],
    [{ tags: MAX_TAGS_AND_SEGMENTS + 1 }, "tags", MAX_TAGS_AND_SEGMENTS],
    [
      { segments: MAX_TAGS_AND_SEGMENTS + 1 },
      "element segments",
      MAX_TAGS_AND_SEGMENTS,
    ],
  ];
  for (const [shape, what, most] of over) {
    const bytes = entriesModule(shape);
    // The engine itself takes them: only the cap refuses them.
    assert.ok(WebAssembly.validate(bytes), what);
    const refused = refusedFor(most + 1, what, most);
    for (
      const options of [
        { imports },
        { imports, fuel: 1e6 },
        { imports, stop: new StopSignal() },
        { imports, limits: { memory: 65_536 } },
      ]
    ) {
      await assert.rejects(loadGuest(bytes, options), refused);
    }
    await assert.rejects(
      runWasi(bytes),
      refusedFor(most + 1, what, most, "bytes", false),
    );
    assert.throws(
      () => new FuelMeter(bytes),
      refusedFor(most + 1, what, most, "the module"),
    );
  }
});

Deno.test("a guest at each of those caps alone loads and runs, plain and metered", async () => {
  const imports = { env: { g: () => {} } };
  const shapes: Entries[] = [
    { exports: MAX_BINDINGS },
    { imports: MAX_BINDINGS, exports: 2 },
    { tags: MAX_TAGS_AND_SEGMENTS, exports: 2 },
    { segments: MAX_TAGS_AND_SEGMENTS, exports: 2 },
  ];
  for (const shape of shapes) {
    const bytes = entriesModule(shape);
    const options = shape.exports === MAX_BINDINGS
      ? [{ imports }, { imports, fuel: 1e6 }]
      : [{ imports }];
    for (const option of options) {
      const guest = await loadGuest(bytes, option);
      assert.equal(guest.call("1"), 7);
    }
  }
});

/**
 * A module of `f: () -> i32` returning 7, a table of one funcref, and one
 * passive element segment of `entries` references to `f`; `read` copies
 * its first entry into the table and calls it.
 */
function passiveSegmentModule(entries: number): Uint8Array<ArrayBuffer> {
  const segment = [
    1,
    0x01,
    0x00,
    ...leb(entries),
    ...new Array(entries).fill(0),
  ];
  const read = [0x00, 0x41, 0, 0x41, 0, 0x41, 1, 0xfc, 0x0c, 0, 0];
  read.push(0x41, 0, 0x11, 0, 0, 0x0b);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 0, 1, 0x7f]),
    ...section(3, [2, 0, 0]),
    ...section(4, [1, 0x70, 0x00, 1]),
    ...section(7, [
      2,
      1,
      0x66,
      0x00,
      0,
      4,
      ...new TextEncoder().encode("read"),
      0x00,
      1,
    ]),
    ...section(9, segment),
    ...section(10, [2, 4, 0, 0x41, 7, 0x0b, read.length, ...read]),
  ]);
}

Deno.test("a passive element segment's entries weigh in instantiation work too, within the first-read cap of their own", async () => {
  // The first reads' own cap (tests/limits_passive_first_read_test.ts)
  // comes first; what is left of instantiation work counts them as well.
  const w = INSTANTIATION_WEIGHTS;
  const entries = Math.floor(
    MAX_PASSIVE_FIRST_READ_WORK / PASSIVE_WEIGHTS.entry,
  );
  const bytes = passiveSegmentModule(entries + 1);
  const guest = await loadGuest(bytes, { interruptible: true });
  assert.equal(guest.call("read"), 7);
  assert.ok(entries * w.passiveEntry < MAX_INSTANTIATION_WORK);
  const over = passiveSegmentModule(entries + 2);
  await assert.rejects(
    loadGuest(over),
    (error: unknown) =>
      isGuestLoadError(error) && error.reason === "limits" &&
      error.message.includes(
        `passive element segments of ${entries + 1} entries after their first`,
      ),
  );
});

Deno.test("a guest at every one of those caps at once is refused for its instantiation work, which each alone leaves room for", async () => {
  // Bound and made in one instantiation, they held the thread for the sum
  // of their times (each about 10 to 20 ms on a busy machine).
  const w = INSTANTIATION_WEIGHTS;
  const bytes = entriesModule({
    exports: MAX_BINDINGS,
    imports: MAX_BINDINGS,
    tags: MAX_TAGS_AND_SEGMENTS,
    segments: MAX_TAGS_AND_SEGMENTS,
  });
  // Its two types, one of them with a result.
  const work = 2 * w.type + w.typeValue + w.function +
    MAX_BINDINGS * (w.import + w.export) +
    MAX_TAGS_AND_SEGMENTS * (w.tag + w.elementSegment);
  const refused = (error: unknown) =>
    isGuestLoadError(error) && error.reason === "limits" &&
    error.message.startsWith(
      `bytes has 2 types, 1 value in a type, 1 function, 10000 imports, 10000 exports, 100000 tags, 100000 element segments, which weigh ${work} in instantiation work, more than the ${MAX_INSTANTIATION_WORK}`,
    );
  const imports = { env: { g: () => {} } };
  for (const options of [{ imports }, { imports, stop: new StopSignal() }]) {
    await assert.rejects(loadGuest(bytes, options), refused);
  }
});

/** What instantiation makes one by one, beyond the entries above. */
interface Work {
  /** Empty functions `() -> ()` defined beside `f` and the start function. */
  functions?: number;
  /** Elements of a `(ref func)` table set by `ref.func` of `f`. */
  filled?: number;
  /** Globals, each of one of these initializers. */
  globals?: ("i32" | "null" | "i64" | "func")[];
  /** Whether the start function loops for ever (else it returns). */
  spin?: boolean;
  /** Empty passive data segments. */
  dataSegments?: number;
}

/**
 * A module of that work, with `f: () -> i32` returning 7 and a start
 * function; it defines `functions + 2` functions.
 */
function workModule(shape: Work): Uint8Array<ArrayBuffer> {
  const {
    functions = 0,
    filled = 0,
    globals = [],
    spin = false,
    dataSegments = 0,
  } = shape;
  const declared = [...leb(functions + 2)];
  declared.push(0, 1);
  for (let i = 0; i < functions; i++) declared.push(1);
  const initializers = {
    i32: [0x7f, 0, 0x41, 1, 0x0b],
    null: [0x70, 0, 0xd0, 0x70, 0x0b],
    i64: [0x7e, 0, 0x42, 1, 0x0b],
    func: [0x70, 0, 0xd2, 0, 0x0b],
  };
  const start = spin ? [7, 0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b] : [2, 0, 0x0b];
  const bodies = [...leb(functions + 2), 4, 0, 0x41, 7, 0x0b, ...start];
  for (let i = 0; i < functions; i++) bodies.push(2, 0, 0x0b);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [2, 0x60, 0, 1, 0x7f, 0x60, 0, 0]),
    ...section(3, declared),
    // (table (ref func) filled (ref.func $f)), or none.
    ...(filled === 0
      ? []
      : section(4, [1, 0x40, 0, 0x64, 0x70, 0, ...leb(filled), 0xd2, 0, 0x0b])),
    ...section(6, [
      ...leb(globals.length),
      ...globals.flatMap((g) => initializers[g]),
    ]),
    ...section(7, [1, 1, 0x66, 0x00, 0]),
    ...section(8, [1]),
    // f declared for ref.func.
    ...section(9, [1, 3, 0, 1, 0]),
    ...section(10, bodies),
    ...(dataSegments === 0 ? [] : section(11, [
      ...leb(dataSegments),
      ...new Array(dataSegments).fill([1, 0]).flat(),
    ])),
  ]);
}

Deno.test("instantiation work just over the cap is refused by every in-process loader, named by its counts", async () => {
  const w = INSTANTIATION_WEIGHTS;
  assert.equal(MAX_INSTANTIATION_WORK, 20_000_000);
  // Every guest below has two types (one with a result), an export and an
  // element segment.
  const fixed = 2 * w.type + w.typeValue + w.export + w.elementSegment;
  // 2 functions and 39,984 elements set by ref.func weigh the cap exactly;
  // one global set by a constant more is over it.
  const atCap = { filled: 39_984 };
  assert.equal(
    2 * w.function + 39_984 * w.filledTableElement + fixed,
    MAX_INSTANTIATION_WORK,
  );
  const types = "2 types, 1 value in a type,";
  const tail = "1 export, 1 element segment, which weigh";
  const over: [Work, string][] = [
    [
      { ...atCap, globals: ["i32"] },
      `has ${types} 2 functions, 1 global set by a constant, 39984 table elements set by an initializer, ${tail} ${
        MAX_INSTANTIATION_WORK + w.plainGlobal
      } in instantiation work, more than the ${MAX_INSTANTIATION_WORK}`,
    ],
    // 100,000 empty functions held a compile 5 to 15 ms under load.
    [
      { functions: MAX_INSTANTIATION_WORK / w.function - 1 },
      `has ${types} 100001 functions, ${tail} ${
        100_001 * w.function + fixed
      } in instantiation work`,
    ],
    // Each kind of global at its weight: ref.func the dearest, ref.null
    // and i32.const the cheapest.
    [
      {
        functions: 98,
        filled: 39_960,
        globals: ["func", "i64", "null", "i32", "func"],
      },
      `has ${types} 100 functions, 2 globals set by a constant, 1 global set by an expression, 2 globals set by ref.func, 39960 table elements set by an initializer, ${tail} ${
        20_003_700 + 2 * w.type + w.typeValue
      } in instantiation work`,
    ],
    // 200,000 globals set by a constant (1 MB) held a compile 15 to 23 ms
    // under load; they weighed 3,000,000 before the compile was counted.
    [
      { globals: new Array(200_000).fill("i32") },
      `has ${types} 2 functions, 200000 globals set by a constant, ${tail} ${
        2 * w.function + 200_000 * w.plainGlobal + fixed
      } in instantiation work`,
    ],
    // Data segments, which the engine sets up one by one, under a cap of
    // functions that left them out.
    [
      { functions: 98_000, dataSegments: 100_000 },
      `has ${types} 98002 functions, 1 export, 1 element segment, 100000 data segments, which weigh ${
        98_002 * w.function + fixed + 100_000 * w.dataSegment
      } in instantiation work`,
    ],
  ];
  for (const [shape, message] of over) {
    const bytes = workModule(shape);
    // The engine itself takes them: only the cap refuses them.
    assert.ok(WebAssembly.validate(bytes), message);
    const refused = (label: string, isolated = true) => (error: unknown) =>
      isGuestLoadError(error) && error.reason === "limits" &&
      error.message.startsWith(`${label} ${message}`) &&
      error.message.endsWith(
        `give the guest fewer of them${isolatedFix(isolated)}`,
      );
    for (
      const options of [
        {},
        { fuel: 1e6 },
        { timeout: 10_000 },
        { stop: new StopSignal() },
        { limits: { memory: 65_536 } },
      ]
    ) {
      await assert.rejects(
        loadGuest(bytes, options),
        refused("bytes"),
        message,
      );
    }
    await assert.rejects(runWasi(bytes), refused("bytes", false), message);
    assert.throws(() => new FuelMeter(bytes), refused("the module"), message);
  }
});

Deno.test("a guest at the instantiation work cap loads, and a deadline or a StopSignal from another thread on the load lands", async () => {
  const at = workModule({ filled: 39_984 });
  assert.equal((await loadGuest(at)).call("f"), 7);
  assert.equal((await loadGuest(at, { fuel: 1e6 })).call("f"), 7);
  // Its start function spins: only the load's stop ends it (an
  // AbortSignal of this thread cannot fire while it runs).
  const spin = workModule({ filled: 39_984, spin: true });
  await assert.rejects(
    loadGuest(spin, { timeout: 50 }),
    (error: unknown) => isDeadlineExceeded(error),
  );
  const stopped = await stopFromWorker((stop, started) => {
    started();
    return loadGuest(spin, { stop }).then(() => "loaded", (error) => error);
  });
  assert.ok(isAborted(stopped), String(stopped));
});
