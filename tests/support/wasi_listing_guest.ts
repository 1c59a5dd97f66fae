/**
 * A WASI command that lists its first preopen as wasi-libc's `readdir`
 * does: `fd_readdir` into a buffer of `buffer` bytes, then on from the
 * `d_next` of the last whole entry, until a call fills less than the
 * buffer. With `print`, it writes each name and a newline to stdout;
 * with `unlink`, it removes each file as it reads its name (as `rm -r`
 * does); with `forever`, it lists again from cookie 0 once done. It exits
 * with the number of entries, divided by `per`.
 *
 * @module
 */

import { wat } from "./instrument.ts";

const W = "wasi_snapshot_preview1";

/** The guest's bytes. */
export function listingGuest(
  { buffer = 32768, print = false, unlink = false, forever = false, per = 1 } =
    {},
): Promise<Uint8Array> {
  // The buffer at 1024, the count at 16, an I/O vector at 32.
  const pages = Math.ceil((1024 + buffer) / 65536) + 1;
  return wat(`(module
    (import "${W}" "fd_readdir" (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
    (import "${W}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (import "${W}" "proc_exit" (func $exit (param i32)))
    (import "${W}" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
    (memory (export "memory") ${pages})
    (data (i32.const 8) "\\n")
    (func (export "_start")
      (local $cookie i64) (local $used i32) (local $at i32) (local $end i32)
      (local $size i32) (local $count i32) (local $errno i32)
      (loop $calls
        (local.set $errno (call $readdir (i32.const 3) (i32.const 1024)
          (i32.const ${buffer}) (local.get $cookie) (i32.const 16)))
        (if (local.get $errno) (then (call $exit (i32.add (i32.const 200) (local.get $errno)))))
        (local.set $used (i32.load (i32.const 16)))
        (local.set $at (i32.const 1024))
        (local.set $end (i32.add (i32.const 1024) (local.get $used)))
        (block $entries (loop $entry
          (br_if $entries (i32.gt_u (i32.add (local.get $at) (i32.const 24)) (local.get $end)))
          (local.set $size (i32.add (i32.const 24) (i32.load (i32.add (local.get $at) (i32.const 16)))))
          (br_if $entries (i32.gt_u (i32.add (local.get $at) (local.get $size)) (local.get $end)))
          (local.set $cookie (i64.load (local.get $at)))
          (local.set $count (i32.add (local.get $count) (i32.const 1)))
          ${
    print
      ? `(i32.store (i32.const 32) (i32.add (local.get $at) (i32.const 24)))
          (i32.store (i32.const 36) (i32.sub (local.get $size) (i32.const 24)))
          (i32.store (i32.const 40) (i32.const 8))
          (i32.store (i32.const 44) (i32.const 1))
          (drop (call $write (i32.const 1) (i32.const 32) (i32.const 2) (i32.const 48)))`
      : ""
  }
          ${
    unlink
      ? `(local.set $errno (call $unlink (i32.const 3) (i32.add (local.get $at) (i32.const 24))
            (i32.sub (local.get $size) (i32.const 24))))
          (if (local.get $errno) (then (call $exit (i32.add (i32.const 100) (local.get $errno)))))`
      : ""
  }
          (local.set $at (i32.add (local.get $at) (local.get $size)))
          (br $entry)))
        ${
    forever
      ? "(if (i32.lt_u (local.get $used) (i32.const " + buffer +
        ")) (then (local.set $cookie (i64.const 0))))"
      : ""
  }
        (br_if $calls ${
    forever
      ? "(i32.const 1)"
      : `(i32.eq (local.get $used) (i32.const ${buffer}))`
  }))
      (call $exit (i32.div_u (local.get $count) (i32.const ${per})))))`);
}
