// Refusals that suggest invokeIsolated, made right where it cannot be taken:
// a WASI command (which invokeIsolated does not run) and the command line.
import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runMainHere } from "./support/cli.ts";
import { assembleWat } from "../guest/build.ts";
import {
  isGuestLoadError,
  isInvalidModule,
  loadGuest,
  runWasi,
} from "../mod.ts";

const NESTING = 70_000;

/** `n` as unsigned LEB128. */
function leb(n: number): number[] {
  const bytes = [];
  do {
    bytes.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return bytes;
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

function name(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [...leb(bytes.length), ...bytes];
}

/**
 * A module whose one function nests its blocks past the rewriter's limit,
 * in bytes (a text assembler recurses too deep for it): a WASI command, or
 * a guest exporting exit_early.
 */
function tooDeep(wasi: boolean): Uint8Array {
  const body = [0, ...Array(NESTING).fill([0x02, 0x40]).flat()];
  body.push(...Array(NESTING + 1).fill(0x0b));
  const types = [2, 0x60, 0, 0, 0x60, 1, 0x7f, 0];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, types),
    ...(wasi
      ? section(2, [
        1,
        ...name("wasi_snapshot_preview1"),
        ...name("proc_exit"),
        0,
        1,
      ])
      : []),
    ...section(3, [1, 0]),
    ...(wasi ? section(5, [1, 0, 1]) : []),
    ...section(
      7,
      wasi
        ? [2, ...name("_start"), 0, 1, ...name("memory"), 2, 0]
        : [1, ...name("exit_early"), 0, 0],
    ),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

/** A module whose table is more than a guest in this process may have. */
function largeTable(wasi: boolean): Promise<Uint8Array> {
  return assembleWat(`(module
    (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
    (memory (export "memory") 1)
    (table 20000000 funcref)
    (func (export "${wasi ? "_start" : "exit_early"}")))`);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

Deno.test("runWasi's refusal of a function too deep to compile names no invokeIsolated, which runs no WASI command", async () => {
  const bytes = tooDeep(true);
  for (const options of [{}, { fuel: 1e6 }, { timeout: 1000 }]) {
    const error = await rejection(runWasi(bytes, options));
    assert.ok(isInvalidModule(error), String(error));
    assert.match(
      error.message,
      /^function 1 nests its blocks, .* past any deadline or stop: nest them less deeply \(at byte offset \d+\)$/,
    );
    assert.equal(
      typeof (error as { offset?: number }).offset,
      "number",
      "the offset is kept",
    );
  }
  // loadGuest, which invokeIsolated can stand in for, keeps the advice.
  const loaded = await rejection(
    loadGuest(tooDeep(false), { timeout: 1000 }),
  );
  assert.match(
    loaded.message,
    /nest them less deeply, or run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline \(at byte offset \d+\)$/,
  );
});

Deno.test("runWasi's refusal of an instantiation too large keeps its other advice and drops invokeIsolated", async () => {
  const error = await rejection(runWasi(await largeTable(true)));
  assert.ok(isGuestLoadError(error), String(error));
  assert.equal(error.reason, "limits");
  assert.equal(error.hint, "give the guest smaller tables");
  assert.match(error.message, /; give the guest smaller tables$/);
  const loaded = await rejection(
    loadGuest(await largeTable(false), {
      imports: { wasi_snapshot_preview1: { proc_exit() {} } },
    }),
  );
  assert.match(
    loaded.message,
    /give the guest smaller tables, or run it with invokeIsolated, where a failed instantiation ends only the child process$/,
  );
});

Deno.test("the command line says invokeIsolated is for code, and names it for no WASI command", () =>
  withDirectory(async (dir) => {
    const plain = `${dir}/deep.wasm`;
    const command = `${dir}/deep_command.wasm`;
    await Deno.writeFile(plain, tooDeep(false));
    await Deno.writeFile(command, tooDeep(true));
    const run = await runMainHere([plain]);
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /^error: function 0 nests .*: nest them less deeply, or, from code, run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline \(at byte offset \d+\)\n$/,
    );
    const commandRun = await runMainHere([command]);
    assert.equal(commandRun.code, 2);
    assert.match(
      commandRun.stderr,
      /^error: function 1 nests .*: nest them less deeply \(at byte offset \d+\)\n$/,
    );
  }));
