import assert from "./support/assert.ts";
import { ERRNO } from "../src/wasi/wasi_abi.ts";
import { FIRST_PREOPEN_FD, GuestFiles } from "../src/wasi/wasi_files.ts";

const READ_ONLY = FIRST_PREOPEN_FD;
const READ_WRITE = FIRST_PREOPEN_FD + 1;

/**
 * Every call, with the read-only preopen where its directory or file goes.
 * The calls that take an entry away name one, `f` at 100: an empty path
 * names the preopen itself, which none may take.
 */
const CALLS: Record<string, (fd: number) => unknown[]> = {
  path_create_directory: (fd) => [fd, 0, 0],
  path_remove_directory: (fd) => [fd, 100, 1],
  path_unlink_file: (fd) => [fd, 100, 1],
  path_rename: (fd) => [READ_WRITE, 100, 1, fd, 100, 1],
  path_symlink: (fd) => [0, 0, fd, 0, 0],
  path_link: (fd) => [READ_WRITE, 0, 0, 0, fd, 0, 0],
  path_filestat_set_times: (fd) => [fd, 0, 0, 0, 0n, 0n, 0],
  fd_write: (fd) => [fd, 0, 0, 0],
  fd_pwrite: (fd) => [fd, 0, 0, 0n, 0],
  fd_allocate: (fd) => [fd, 0n, 0n],
  fd_filestat_set_size: (fd) => [fd, 0n],
  fd_filestat_set_times: (fd) => [fd, 0n, 0n, 0],
};

Deno.test("under a read-only preopen, every call that changes a file is refused with EROFS", () => {
  const passed: string[] = [];
  const wasi = Object.fromEntries(
    Object.keys(CALLS).map((name) => [name, () => {
      passed.push(name);
      return ERRNO.SUCCESS;
    }]),
  );
  const memory = new WebAssembly.Memory({ initial: 1 });
  new Uint8Array(memory.buffer)[100] = 0x66;
  const files = new GuestFiles(wasi, () => memory, [
    { host: "no-such-dir/read-only", readOnly: true },
    { host: "no-such-dir/read-write", readOnly: false },
  ]).functions();
  for (const [name, args] of Object.entries(CALLS)) {
    assert.equal(files[name](...args(READ_ONLY)), ERRNO.ROFS, name);
    assert.equal(files[name](...args(READ_WRITE)), ERRNO.SUCCESS, name);
  }
  assert.deepEqual(passed, Object.keys(CALLS));
});

Deno.test("under a read-only preopen, path_open refuses to create, truncate, append or write", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const opened: number[] = [];
  const wasi = {
    path_open: (..._args: unknown[]) => {
      new DataView(memory.buffer).setUint32(64, 9, true);
      opened.push(9);
      return ERRNO.SUCCESS;
    },
    // A regular file's filestat: its filetype at 16.
    fd_filestat_get: (_fd: number, at: number) => {
      new Uint8Array(memory.buffer)[at + 16] = 4;
      return ERRNO.SUCCESS;
    },
  };
  const files = new GuestFiles(wasi, () => memory, [
    { host: "no-such-dir/read-only", readOnly: true },
  ]).functions();
  // The path "f", at 100.
  new Uint8Array(memory.buffer)[100] = 0x66;
  const open = (oflags: number, rights: bigint, fdflags: number) =>
    files.path_open(READ_ONLY, 0, 100, 1, oflags, rights, 0n, fdflags, 64);
  const FD_READ = 1n << 1n;
  assert.equal(open(1, FD_READ, 0), ERRNO.ROFS); // creat
  assert.equal(open(8, FD_READ, 0), ERRNO.ROFS); // trunc
  assert.equal(open(0, FD_READ | (1n << 6n), 0), ERRNO.ROFS); // fd_write
  assert.equal(open(0, FD_READ, 1), ERRNO.ROFS); // append
  assert.equal(open(0, FD_READ, 0), ERRNO.SUCCESS);
  // What was opened under it is read-only too.
  assert.equal(files.fd_write(9, 0, 0, 0), ERRNO.ROFS);
});
