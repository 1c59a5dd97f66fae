/**
 * Compiles one large guest on the compile thread over and over, collecting
 * this thread's heap after each compile, and prints as JSON the process's
 * resident memory after each. Run it without `--expose-gc`: the compile
 * thread must then collect its own heap by itself. Serves
 * `tests/compile_thread_memory_test.ts`.
 *
 * @module
 */

import v8 from "node:v8";
import vm from "node:vm";
import { compileElsewhere } from "../../src/load/compile_thread.ts";
import { concatBytes, encodeLeb, PREAMBLE } from "./module_bytes.ts";

/** What the child prints. */
export interface CompileMemoryReport {
  /** The guest's size in bytes. */
  size: number;
  /** Resident memory in bytes after each compile. */
  resident: number[];
}

/** Bytes of data in the guest: its compile is short, its copies large. */
const GUEST_DATA = 8 * 1024 * 1024;
/** Compiles made, one after another. */
const COMPILES = 8;

/** A memory and one active data segment of `GUEST_DATA` bytes. */
function dataGuest(): Uint8Array {
  const segment = concatBytes(
    [0x01, 0x00, 0x41, 0x00, 0x0b],
    encodeLeb(GUEST_DATA),
    new Uint8Array(GUEST_DATA).fill(7),
  );
  const pages = encodeLeb(GUEST_DATA / 65536);
  return concatBytes(
    PREAMBLE,
    [0x05, ...encodeLeb(pages.length + 2), 0x01, 0x00, ...pages],
    [0x0b, ...encodeLeb(segment.length)],
    segment,
  );
}

// This thread's collector, taken the way the compile thread takes its own,
// and the flag put back before that thread starts.
v8.setFlagsFromString("--expose-gc");
const collect = vm.runInNewContext("gc") as () => void;
v8.setFlagsFromString("--no-expose-gc");

const turn = () => new Promise((resolve) => setTimeout(resolve, 0));
const guest = dataGuest();
const resident: number[] = [];
for (let i = 0; i < COMPILES; i++) {
  await compileElsewhere(guest, undefined, new AbortController().signal);
  // This thread's copies go; a finalizer then lets the thread's go.
  collect();
  await turn();
  await turn();
  resident.push(Deno.memoryUsage().rss);
}
const report: CompileMemoryReport = { size: guest.length, resident };
console.log(JSON.stringify(report));
