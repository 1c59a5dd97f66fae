/**
 * A file under a read-only preopen stays unchanged when the guest links it
 * into a read-write preopen: the link would open it for writing.
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runWasi } from "../mod.ts";

const ROFS = 69;

Deno.test("a file under a read-only preopen cannot be hard-linked into a read-write one and written there", () =>
  withDirectory(async (directory) => {
    const [readWrite, readOnly] = [`${directory}/rw`, `${directory}/ro`];
    await Deno.mkdir(readWrite);
    await Deno.mkdir(readOnly);
    await Deno.writeTextFile(`${readOnly}/file.txt`, "host");
    // Links ro/file.txt as rw/link, opens rw/link and writes "guest" to it;
    // exits with the link's errno.
    const guest = await wat(`(module
      (import "wasi_snapshot_preview1" "path_link"
        (func $link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_open"
        (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write"
        (func $write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "\\00\\02\\00\\00\\05\\00\\00\\00")
      (data (i32.const 100) "file.txt")
      (data (i32.const 200) "link")
      (data (i32.const 512) "guest")
      (func (export "_start") (local $errno i32)
        (local.set $errno (call $link (i32.const 4) (i32.const 0)
          (i32.const 100) (i32.const 8) (i32.const 3) (i32.const 200)
          (i32.const 4)))
        (drop (call $open (i32.const 3) (i32.const 1) (i32.const 200)
          (i32.const 4) (i32.const 0) (i64.const -1) (i64.const -1)
          (i32.const 0) (i32.const 16)))
        (drop (call $write (i32.load (i32.const 16)) (i32.const 0)
          (i32.const 1) (i32.const 20)))
        (call $exit (local.get $errno))))`);
    const result = await runWasi(guest, {
      preopens: [
        { host: readWrite, guest: "/rw" },
        { host: readOnly, guest: "/ro", mode: "read-only" },
      ],
    });
    assert.equal(result.outcome, "exited");
    if (result.outcome === "exited") assert.equal(result.code, ROFS);
    assert.equal(await Deno.readTextFile(`${readOnly}/file.txt`), "host");
    assert.deepEqual([...Deno.readDirSync(readWrite)], []);
  }));
