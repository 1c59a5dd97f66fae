/**
 * What a WASI guest passes to the host (pointers, lengths, counts) is the
 * guest's to choose: each call must answer with an errno, within bounds the
 * host sets, rather than throw or build what the guest asks for.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { isAborted, runWasi, StopSignal } from "../mod.ts";
import { GuestFiles } from "../src/wasi/wasi_files.ts";
import { RANDOM_SLICE, wasiImports } from "../src/wasi/wasi_imports.ts";
import { StopWatch } from "../src/wasi/wasi_stops.ts";
import {
  IOV_MAX,
  MAX_SUBSCRIPTIONS,
  MAX_TRANSFER,
} from "../src/wasi/wasi_abi.ts";
import {
  DEFAULT_OUTPUT_LIMIT,
  InputSource,
  OutputSink,
} from "../src/wasi/wasi_stdio.ts";

const FAULT = 21;
const INVAL = 28;

/** The errno of one call, as the guest's exit code. */
async function errnoOf(call: string, pages = 1): Promise<number> {
  const bytes = await wat(`(module
    (import "wasi_snapshot_preview1" "fd_write"
      (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_read"
      (func $fd_read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "poll_oneoff"
      (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") ${pages})
    (func (export "_start") (call $exit ${call})))`);
  const result = await runWasi(bytes, {
    stdin: new Uint8Array([1, 2, 3]),
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(result.outcome, "exited", JSON.stringify(result));
  return result.outcome === "exited" ? result.code : -1;
}

Deno.test("fd_write and fd_read refuse more than IOV_MAX vectors, however many fit in memory", async () => {
  // 128 pages hold a million zero-length vectors, each a view the host
  // built in one call (in 64 MiB: 17 s and 2.8 GB of heap).
  const many = 1 << 20;
  assert.equal(
    await errnoOf(
      `(call $fd_write (i32.const 1) (i32.const 0) (i32.const ${many}) (i32.const 0))`,
      128,
    ),
    INVAL,
  );
  assert.equal(
    await errnoOf(
      `(call $fd_read (i32.const 0) (i32.const 0) (i32.const ${many}) (i32.const 0))`,
      128,
    ),
    INVAL,
  );
  assert.equal(
    await errnoOf(
      `(call $fd_write (i32.const 2) (i32.const 0) (i32.const -1) (i32.const 0))`,
    ),
    INVAL,
  );
  assert.equal(
    await errnoOf(
      `(call $fd_write (i32.const 1) (i32.const 0) (i32.const ${IOV_MAX}) (i32.const 0))`,
    ),
    0,
  );
});

Deno.test("fd_write and fd_read answer FAULT for vectors, buffers and results outside memory", async () => {
  for (const fd of ["$fd_write (i32.const 1)", "$fd_read (i32.const 0)"]) {
    // The vector array runs past the end.
    assert.equal(
      await errnoOf(
        `(call ${fd} (i32.const 65530) (i32.const 1) (i32.const 0))`,
      ),
      FAULT,
    );
    // A buffer runs past the end.
    assert.equal(
      await errnoOf(`(i32.store (i32.const 0) (i32.const 65000))
        (i32.store (i32.const 4) (i32.const 1000))
        (call ${fd} (i32.const 0) (i32.const 1) (i32.const 16))`),
      FAULT,
    );
    // So does the count written back, or a pointer read as negative.
    assert.equal(
      await errnoOf(
        `(call ${fd} (i32.const 0) (i32.const 1) (i32.const 65534))`,
      ),
      FAULT,
    );
    assert.equal(
      await errnoOf(`(call ${fd} (i32.const -8) (i32.const 1) (i32.const 0))`),
      FAULT,
    );
  }
});

Deno.test("poll_oneoff bounds its subscriptions and events by count and by memory", async () => {
  assert.equal(
    await errnoOf(
      `(call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const ${
        MAX_SUBSCRIPTIONS + 1
      }) (i32.const 0))`,
      1024,
    ),
    INVAL,
  );
  assert.equal(
    await errnoOf(
      `(call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const 0x7fffffff) (i32.const 0))`,
    ),
    INVAL,
  );
  // 1000 subscriptions do not fit from 48000 on; their events neither.
  assert.equal(
    await errnoOf(
      `(call $poll_oneoff (i32.const 48000) (i32.const 0) (i32.const 1000) (i32.const 0))`,
    ),
    FAULT,
  );
  assert.equal(
    await errnoOf(
      `(call $poll_oneoff (i32.const 0) (i32.const 60000) (i32.const 1000) (i32.const 0))`,
    ),
    FAULT,
  );
  // One zero-timeout clock, its event written at 1024.
  assert.equal(
    await errnoOf(
      `(call $poll_oneoff (i32.const 0) (i32.const 1024) (i32.const 1) (i32.const 2048))`,
    ),
    0,
  );
});

Deno.test("fd_write passes at most MAX_TRANSFER bytes through per call: the rest is a short write", () => {
  let passed = 0;
  const sink = new OutputSink("inherit", DEFAULT_OUTPUT_LIMIT, {
    writeSync: (bytes) => {
      passed += bytes.length;
      return bytes.length;
    },
  });
  // 1024 views of one 64 MiB buffer: 64 GiB asked for in one call.
  const buffer = new ArrayBuffer(64 << 20);
  const vectors = Array.from({ length: 1024 }, () => new Uint8Array(buffer));
  assert.equal(sink.write(vectors), MAX_TRANSFER);
  assert.equal(passed, MAX_TRANSFER);
  // Small writes pass whole.
  const small = [new Uint8Array(10), new Uint8Array(20)];
  assert.equal(sink.write(small), 30);
});

Deno.test("random_get makes its bytes in slices, and a stop lands between them", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const calls: [number, number][] = [];
  const parts = (watch: StopWatch) => ({
    wasi: {
      random_get: (at: number, length: number) => {
        calls.push([at, length]);
        return 0;
      },
    },
    memory: () => memory,
    files: new GuestFiles({}, () => memory, []),
    stdin: new InputSource(undefined),
    output: [
      new OutputSink("ignore", 0, Deno.stdout),
      new OutputSink("ignore", 0, Deno.stdout),
    ] as [OutputSink, OutputSink],
    watch,
  });
  const free = wasiImports(parts(new StopWatch({})));
  memory.grow(3 * RANDOM_SLICE / 65536);
  assert.equal(free.random_get(8, 2 * RANDOM_SLICE + 5), 0);
  assert.deepEqual(calls, [
    [8, RANDOM_SLICE],
    [8 + RANDOM_SLICE, RANDOM_SLICE],
    [8 + 2 * RANDOM_SLICE, 5],
  ]);
  assert.equal(free.random_get(memory.buffer.byteLength - 4, 5), FAULT);
  calls.length = 0;
  const stop = new StopSignal();
  stop.stop("enough");
  const stopped = wasiImports(parts(new StopWatch({ stop })));
  assert.throws(() => stopped.random_get(0, RANDOM_SLICE), isAborted);
  assert.deepEqual(calls, []);
});
