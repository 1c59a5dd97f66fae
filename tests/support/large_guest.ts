/**
 * A guest larger than a compile the main thread does at once, quick to
 * rewrite: its 2 MiB are one data segment. Written by hand, so that a
 * child process that loads it needs no assembler.
 *
 * @module
 */

import {
  type Bytes,
  concatBytes,
  encodeLeb,
  moduleOf,
  section,
} from "./module_bytes.ts";
import { STREAM_CHUNK } from "../../src/load/load.ts";

/** A name as the binary format writes it: its length, then its bytes. */
function name(text: string): number[] {
  return [text.length, ...new TextEncoder().encode(text)];
}

/**
 * A guest whose start function calls `host.started`, which exports its
 * memory and `answer` (returns 42), and whose 2 MiB data segment (every
 * byte 7, at 0) makes its rewrite larger than a compile the main thread
 * does at once: a load that can be stopped compiles it on the compile
 * thread. With `table`, it also has a table of one funcref and no
 * maximum, which a load gives one (its default limit): its limits change
 * its bytes.
 */
export function largeGuest(options: { table?: boolean } = {}): Bytes {
  const head = moduleOf(
    section(1, [0x02, 0x60, 0x00, 0x00, 0x60, 0x00, 0x01, 0x7f]),
    section(2, [0x01, ...name("host"), ...name("started"), 0x00, 0x00]),
    section(3, [0x02, 0x00, 0x01]),
    ...(options.table ? [section(4, [0x01, 0x70, 0x00, 0x01])] : []),
    section(5, [0x01, 0x00, 64]),
    section(7, [
      0x02,
      ...name("memory"),
      0x02,
      0x00,
      ...name("answer"),
      0x00,
      0x02,
    ]),
    section(8, [0x01]), // start: function 1, which calls the import
    section(10, [
      0x02,
      ...[0x04, 0x00, 0x10, 0x00, 0x0b], // call 0
      ...[0x04, 0x00, 0x41, 42, 0x0b], // i32.const 42
    ]),
  );
  const data = new Uint8Array(2 * STREAM_CHUNK).fill(7);
  // One active segment at offset 0: flags 0, (i32.const 0) end, its bytes.
  const segment = [1, 0x00, 0x41, 0x00, 0x0b, ...encodeLeb(data.length)];
  const size = encodeLeb(segment.length + data.length);
  return concatBytes(head, [11, ...size, ...segment], data);
}
