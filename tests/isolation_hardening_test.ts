/**
 * The isolated child gets only what the caller names: the documented
 * permissions, paths Deno's flags cannot split, an empty environment plus
 * `env`, a heap limit, and a capped share of the host's output. Calls that
 * flood their output or exhaust their heap run inside a script of their
 * own, so that what reaches the host's streams can be measured.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { invokeIsolated, isInvalidModule, isOutOfMemory } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { runDeno } from "./support/cli.ts";
import { watBinaryen } from "./support/instrument.ts";
import {
  ANSWER_CAP_BYTES,
  OUTPUT_CAP_BYTES,
  readAnswer,
} from "../src/isolate/isolate_output.ts";
import { LOADED_MARK } from "../src/isolate/isolate_wire.ts";

const COMPUTE = new URL("../guest/compute.wasm", import.meta.url);
const MOD = new URL("../mod.ts", import.meta.url).href;
/** A script that has not finished long after its call is killed: a hang. */
const HANG_MS = 120_000;
const MiB = 1024 * 1024;

/** A temporary directory for guests, imports modules and scripts. */
async function inTempDir(
  body: (dir: string) => Promise<void>,
  name = "",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: name });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A guest whose `run(n)` returns the host's `env.probe(n)`. */
function probingGuest(): Promise<Uint8Array> {
  return assembleWat(`(module
    (import "env" "probe" (func $probe (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) (call $probe (local.get 0))))`);
}

Deno.test("isolation: permission keys outside the documented five are refused", async () => {
  const refused = [
    { all: true },
    { run: true },
    { ffi: ["/lib"] },
    { sys: true },
    { "read,write": true },
  ];
  for (const permissions of refused) {
    await assert.rejects(
      invokeIsolated(COMPUTE, "sum_to", [3], {
        permissions: permissions as never,
      }),
      TypeError,
      "cannot be given the permission",
    );
  }
  for (const imports of [undefined, "./imports.ts"]) {
    await assert.rejects(
      invokeIsolated(COMPUTE, "sum_to", [3], {
        imports,
        permissions: { read: "/" as never },
      }),
      TypeError,
      "must be true, false or an array of strings",
    );
  }
  // The documented ones still pass.
  const result = await invokeIsolated(COMPUTE, "sum_to", [3], {
    permissions: { read: [Deno.cwd()], env: ["HOME"], net: false },
  });
  assert.equal(expectOutcome(result, "returned").value, 3n);
});

Deno.test("isolation: a path or name with a comma is refused", async () => {
  const refused = [
    { read: ["/nonexistent,/"] },
    { write: ["/tmp/a,/"] },
    { net: ["127.0.0.1,example.com"] },
    { env: ["HOME,SECRET"] },
    { import: ["127.0.0.1,example.com"] },
  ];
  for (const permissions of refused) {
    await assert.rejects(
      invokeIsolated(COMPUTE, "sum_to", [3], { permissions }),
      TypeError,
      "splits its list at commas",
    );
  }
});

Deno.test("isolation: a path or name with a NUL byte, or a heap limit past a safe byte count, is one line that says so", async () => {
  for (const name of ["read", "write", "net", "env", "import"]) {
    await assert.rejects(
      invokeIsolated(COMPUTE, "sum_to", [3], {
        permissions: { [name]: ["a\0b"] },
      }),
      (error) =>
        error instanceof TypeError &&
        error.message.startsWith(
          `permissions.${name} cannot hold "a\\u0000b"`,
        ) &&
        !error.message.includes("spawn"),
      name,
    );
  }
  // Before, its bytes went on to the child's limits, whose refusal named
  // loadGuest's limits.memory.
  await assert.rejects(
    invokeIsolated(COMPUTE, "sum_to", [3], { maxHeapMiB: 1e12 }),
    (error) =>
      error instanceof RangeError &&
      /^maxHeapMiB must be a positive whole number of MiB, at most \d+; got 1000000000000$/
        .test(error.message),
  );
});

Deno.test("isolation: an imports module under a directory with a comma is refused", async () => {
  await inTempDir(async (dir) => {
    const inner = `${dir}/x,/,`;
    await Deno.mkdir(inner, { recursive: true });
    const imports = `${inner}/imports.ts`;
    await Deno.writeTextFile(
      imports,
      `export default { env: { probe: () => 1 } };\n`,
    );
    const guest = `${dir}/probe.wasm`;
    await Deno.writeFile(guest, await probingGuest());
    await assert.rejects(
      invokeIsolated(guest, "run", [0], { imports }),
      TypeError,
      "has a comma in its path",
    );
  });
});

Deno.test("isolation: the child sees none of the host's environment, only what the caller passes", async () => {
  Deno.env.set("SECRET", "the host's own");
  try {
    await inTempDir(async (dir) => {
      const imports = `${dir}/imports.ts`;
      // Even with every env permission, the child reads only what it got.
      await Deno.writeTextFile(
        imports,
        `export default { env: { probe: () =>
          (Deno.env.get("SECRET") === undefined ? 1 : 0) +
          (Deno.env.get("GIVEN") === "yes" ? 2 : 0) +
          (Deno.env.get("HOME") === undefined ? 4 : 0) } };\n`,
      );
      const guest = `${dir}/probe.wasm`;
      await Deno.writeFile(guest, await probingGuest());
      const permissions = { env: true };
      const given = await invokeIsolated(guest, "run", [0], {
        imports,
        permissions,
        env: { GIVEN: "yes" },
      });
      assert.equal(expectOutcome(given, "returned").value, 1 + 2 + 4);
      const none = await invokeIsolated(guest, "run", [0], {
        imports,
        permissions,
      });
      assert.equal(expectOutcome(none, "returned").value, 1 + 4);
    });
  } finally {
    Deno.env.delete("SECRET");
  }
});

/**
 * Runs one isolated call in a script of its own and returns what it
 * printed: the outcome on the last line of its stdout, after whatever the
 * child forwarded.
 */
async function isolatedInScript(
  dir: string,
  guest: string,
  options: string,
): Promise<
  { result: Record<string, unknown>; stdout: string; stderr: string }
> {
  const script = `${dir}/host.ts`;
  await Deno.writeTextFile(
    script,
    `import { invokeIsolated, isOutOfMemory } from ${JSON.stringify(MOD)};
    const result = await invokeIsolated(${
      JSON.stringify(guest)
    }, "run", [0], ${options});
    const error = "error" in result ? result.error : undefined;
    // The host is intact: it still makes an ordinary isolated call.
    const after = await invokeIsolated(${
      JSON.stringify(COMPUTE.href)
    }, "sum_to", [4]);
    console.log("\\nRESULT " + JSON.stringify({
      outcome: result.outcome,
      value: "value" in result ? result.value : undefined,
      outOfMemory: isOutOfMemory(error),
      heapLimitMiB: error?.heapLimitMiB,
      message: error?.message,
      after: after.outcome === "returned" ? String(after.value) : after.outcome,
    }));\n`,
  );
  const run = await runDeno(
    ["run", "--allow-read", "--allow-run", script],
    { signal: AbortSignal.timeout(HANG_MS) },
  );
  assert.equal(run.signal, null, `killed after ${HANG_MS} ms: it hung`);
  assert.equal(run.code, 0, run.stderr.slice(-2000));
  const at = run.stdout.lastIndexOf("\nRESULT ");
  assert.ok(at >= 0, run.stdout.slice(-2000));
  return {
    result: JSON.parse(run.stdout.slice(at + "\nRESULT ".length)),
    stdout: run.stdout.slice(0, at),
    stderr: run.stderr,
  };
}

/** An imports module whose `probe` prints `chunks` of 64 KiB to each stream. */
function floodingImports(chunks: string): string {
  return `const line = "x".repeat(65535) + "\\n";
    const bytes = new TextEncoder().encode(line);
    export default { env: { probe: () => {
      // What an answer looked like before it carried the host's tag.
      console.log('{"type":"returned","export":"run","value":666}');
      for (let i = 0; ${chunks}; i++) {
        Deno.stdout.writeSync(bytes);
        Deno.stderr.writeSync(bytes);
      }
      return 42;
    } } };\n`;
}

Deno.test("isolation: an environment variable the child would see as another, or cut short, is refused in one line", async () => {
  for (
    const env of <Record<string, string>[]> [
      { "A=B": "x" },
      { "": "x" },
      { "A\0B": "x" },
      { A: "x\0y" },
    ]
  ) {
    await assert.rejects(
      () => invokeIsolated(COMPUTE, "sum_to", [3], { env }),
      (error: Error) => {
        assert.ok(error instanceof TypeError, String(error));
        assert.match(error.message, /^env/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
      JSON.stringify(env),
    );
  }
});

Deno.test("isolation: an environment or arguments too long for the system to start the child is one line that says so", async () => {
  const paths = Array.from({ length: 30_000 }, (_, i) => `/nowhere/${i}`);
  for (
    const options of [
      { env: { A: "x".repeat(200_000) } },
      { permissions: { read: paths } },
    ]
  ) {
    await assert.rejects(
      () => invokeIsolated(COMPUTE, "sum_to", [3], options),
      (error: Error) => {
        assert.ok(error instanceof RangeError, String(error));
        assert.match(error.message, /too long .*imports module or a file/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
      Object.keys(options)[0],
    );
  }
});

Deno.test("isolation: a child's output is capped at 1 MiB a stream, and its answer still comes through", async () => {
  await inTempDir(async (dir) => {
    const imports = `${dir}/imports.ts`;
    await Deno.writeTextFile(imports, floodingImports("i < 64")); // 4 MiB each
    const guest = `${dir}/probe.wasm`;
    await Deno.writeFile(guest, await probingGuest());
    const { result, stdout, stderr } = await isolatedInScript(
      dir,
      guest,
      `{ imports: ${JSON.stringify(imports)} }`,
    );
    assert.equal(result.outcome, "returned");
    assert.equal(result.value, 42);
    assert.equal(result.after, "6");
    assert.ok(stdout.length <= MiB, `${stdout.length} bytes of stdout`);
    assert.ok(
      stdout.startsWith('{"type":"returned","export":"run","value":666}'),
    );
    assert.ok(stderr.length <= MiB + 200, `${stderr.length} bytes of stderr`);
    assert.match(stderr, /dropped \d+ bytes of the isolated child's stdout/);
    assert.match(stderr, /dropped \d+ bytes of the isolated child's stderr/);
  });
});

Deno.test("isolation: a child that floods its output forever still stops at its deadline", async () => {
  await inTempDir(async (dir) => {
    const imports = `${dir}/imports.ts`;
    await Deno.writeTextFile(imports, floodingImports("true"));
    const guest = `${dir}/probe.wasm`;
    await Deno.writeFile(guest, await probingGuest());
    const { result, stdout, stderr } = await isolatedInScript(
      dir,
      guest,
      `{ imports: ${JSON.stringify(imports)}, timeout: 1000 }`,
    );
    assert.equal(result.outcome, "timeout");
    assert.equal(result.after, "6");
    assert.ok(stdout.length <= MiB, `${stdout.length} bytes of stdout`);
    assert.ok(stderr.length <= MiB + 200, `${stderr.length} bytes of stderr`);
  });
});

/** Allocates 256 KiB GC arrays (the default cap) and keeps them all, until the heap runs out. */
const HOARD = `(module
  (type $bytes (array (mut i8)))
  (type $node (struct (field (ref null $node)) (field (ref $bytes))))
  (func (export "run") (param i32) (result i32)
    (local $head (ref null $node))
    (loop $more
      (local.set $head
        (struct.new $node (local.get $head)
          (array.new_default $bytes (i32.const 262144))))
      (br $more))
    (i32.const 0)))`;

Deno.test("isolation: a child that runs out of heap ends the call with out_of_memory", async () => {
  await inTempDir(async (dir) => {
    const guest = `${dir}/hoard.wasm`;
    await Deno.writeFile(guest, await watBinaryen(HOARD));
    const { result, stderr } = await isolatedInScript(
      dir,
      guest,
      `{ maxHeapMiB: 64 }`,
    );
    assert.equal(result.outcome, "out_of_memory", String(result.message));
    assert.equal(result.outOfMemory, true);
    assert.equal(result.heapLimitMiB, 64);
    assert.match(
      String(result.message),
      /ran out of memory \(a heap limit of 64 MiB\); raise maxHeapMiB/,
    );
    // The outcome says it in one line: V8's report of the child's death
    // (tens of lines) stays off the host's stderr, and the host lived on.
    assert.equal(stderr, "");
    assert.equal(result.after, "6");
  });
});

Deno.test("isolation: the heap limit must be a positive whole number of MiB", async () => {
  for (const maxHeapMiB of [0, -1, 1.5, NaN]) {
    await assert.rejects(
      invokeIsolated(COMPUTE, "sum_to", [3], { maxHeapMiB }),
      RangeError,
      "maxHeapMiB",
    );
  }
  const result = await invokeIsolated(COMPUTE, "sum_to", [3], {
    maxHeapMiB: 256,
  });
  assert.equal(expectOutcome(result, "returned").value, 3n);
  assert.equal(isOutOfMemory(undefined), false);
});

Deno.test("isolation: the answer is found after its tag in any chunking, and only there", async () => {
  const tag = "early-exit answer 1234: ";
  const printed = 'early-exit answer 9: no\n{"fake":1}\nearly-exit answer 12';
  const loaded = `${tag}${LOADED_MARK}`;
  const stream = `${printed}\n${loaded}\nstart\n${tag}{"real":2}\nafter\n`;
  for (const size of [1, 2, 7, 64, stream.length]) {
    let marks = 0;
    const bytes = new TextEncoder().encode(stream);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += size) {
      chunks.push(bytes.slice(at, at + size));
    }
    const forwarded: number[] = [];
    const answer = await readAnswer(
      ReadableStream.from(chunks),
      tag,
      {
        writeSync: (part) => {
          forwarded.push(...part);
          return part.length;
        },
      },
      undefined,
      () => marks++,
    );
    assert.equal(answer, '{"real":2}', `chunks of ${size}`);
    assert.equal(marks, 1, `chunks of ${size}`);
    assert.equal(
      new TextDecoder().decode(new Uint8Array(forwarded)),
      `${printed}startafter\n`,
      `chunks of ${size}`,
    );
  }
});

Deno.test("isolation: an answer past the cap is no answer, and its length is told", async () => {
  const tag = "early-exit answer 77: ";
  const huge = "9".repeat(ANSWER_CAP_BYTES + 1);
  const lengths: number[] = [];
  const answer = await readAnswer(
    ReadableStream.from([new TextEncoder().encode(`\n${tag}${huge}\n`)]),
    tag,
    { writeSync: (part) => part.length },
    undefined,
    undefined,
    (bytes) => lengths.push(bytes),
  );
  assert.equal(answer, undefined);
  assert.deepEqual(lengths, [ANSWER_CAP_BYTES + 1]);
});

Deno.test("isolation: an invalid module is refused as InvalidModule, compiled by the child alone", async () => {
  const preamble = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  // A section that claims more bytes than the module holds.
  const truncated = new Uint8Array([...preamble, 0x01, 0x09, 0x01]);
  await assert.rejects(
    invokeIsolated(truncated, "run"),
    (error: Error) => {
      assert.ok(isInvalidModule(error), String(error));
      assert.match(error.message, /bytes is not a valid WebAssembly module/);
      return true;
    },
  );
  await assert.rejects(
    invokeIsolated(new Uint8Array(8), "run"),
    (error: Error) => isInvalidModule(error) && /\\0asm/.test(error.message),
  );
});

Deno.test("isolation: the answer is handed over as soon as its line is complete, before the child's output ends", async () => {
  const tag = "early-exit answer 5: ";
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stdout = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
  });
  const early = Promise.withResolvers<string>();
  const reading = readAnswer(
    stdout,
    tag,
    { writeSync: (part) => part.length },
    early.resolve,
  );
  controller.enqueue(new TextEncoder().encode(`noise\n${tag}{"v":1}\n`));
  // The stream is still open: a child killed after it answered has not yet
  // closed its output.
  assert.equal(await early.promise, '{"v":1}');
  controller.enqueue(new TextEncoder().encode(`\n${tag}{"v":2}\n`));
  controller.close();
  assert.equal(await reading, '{"v":1}');
});

Deno.test("isolation: a child's output of many short lines is forwarded in a write a chunk, not a write a line", async () => {
  // A million empty lines, the cap's worth: one write each held the host's
  // thread for about a second, past the call's deadline.
  const tag = "early-exit answer 5: ";
  const lines = new Uint8Array(OUTPUT_CAP_BYTES).fill(0x0a);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < lines.length; at += 65_536) {
    chunks.push(lines.slice(at, at + 65_536));
  }
  chunks.push(new TextEncoder().encode(`\n${tag}{"real":3}\n`));
  let writes = 0;
  let forwarded = 0;
  const answer = await readAnswer(ReadableStream.from(chunks), tag, {
    writeSync: (part) => {
      writes++;
      forwarded += part.length;
      return part.length;
    },
  });
  assert.equal(answer, '{"real":3}');
  // Every newline but the one before the tag is the child's own output.
  assert.equal(forwarded, OUTPUT_CAP_BYTES);
  assert.ok(writes <= chunks.length, `${writes} writes`);
});
