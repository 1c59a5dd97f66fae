/**
 * The fuel a WASI guest pays for the host's work on its behalf. A call
 * that moves bytes through guest memory does work in proportion to an
 * argument the guest chose, which its own operators, charged by the
 * rewriter, do not reflect: a `random_get` of 64 MiB cost the guest 11
 * fuel. So each such call is charged as the bulk operators are
 * (`memory.copy`, `memory.fill`; see docs/cost-model.md), at the default
 * cost table's rates: `perByte` for every byte moved, `perElement` for
 * every I/O vector, poll subscription or argument string.
 *
 * - Before the call: `random_get`'s length (the call is then refused
 *   unmade when the budget cannot pay), the vectors of `fd_read`,
 *   `fd_write`, `fd_pread` and `fd_pwrite`, `poll_oneoff`'s subscriptions,
 *   every path's length, and what `args_get` and `environ_get` copy.
 * - After it, once the count is known: the bytes a read or write moved (at
 *   most `MAX_TRANSFER` a call), the bytes `fd_readdir` and
 *   `path_readlink` wrote, those of each directory listing `fd_readdir`
 *   read afresh, and the targets of the links a path led through. The call that runs out has done its transfer,
 *   which stays done (its bytes written, as for any stop).
 *
 * When the budget cannot pay, the run ends at once with `FuelExhausted`,
 * its whole budget consumed. The charges depend only on the guest's calls
 * and what they move, so a run's fuel is the same for the same input.
 *
 * A path longer than {@linkcode PATH_MAX} is refused with `NAMETOOLONG`
 * before anything reads it.
 *
 * @module
 */

import { ERRNO, IOV_MAX, MAX_SUBSCRIPTIONS, PATH_MAX } from "./wasi_abi.ts";
import type { WasiImport } from "./wasi_imports.ts";

/** What {@linkcode paidImports} needs. */
export interface WasiCharges {
  /** Charges the guest, throwing to end the run when it cannot pay. */
  charge: (fuel: number) => void;
  /** The guest's memory. */
  memory: () => WebAssembly.Memory;
  /** Fuel per byte moved. */
  perByte: number;
  /** Fuel per vector, subscription or string. */
  perElement: number;
  /** What `args_get` and `environ_get` each copy: strings and bytes. */
  copied: Record<
    "args_get" | "environ_get",
    { strings: number; bytes: number }
  >;
  /**
   * The bytes the host read for the guest's calls since the last time this
   * was asked, beyond those the calls moved: the directory listings read
   * afresh and the targets of the links followed. Paid for after the call
   * that read them.
   */
  hostWork?: () => number;
}

/**
 * The functions that take a path, and where its length is among their
 * arguments (a path's pointer comes just before its length).
 */
const PATH_LENGTHS: Record<string, number[]> = {
  path_create_directory: [2],
  path_filestat_get: [3],
  path_filestat_set_times: [3],
  path_link: [3, 6],
  path_open: [3],
  path_readlink: [2],
  path_remove_directory: [2],
  path_rename: [2, 5],
  path_symlink: [1, 4],
  path_unlink_file: [2],
};

/** Reads and writes: where their vectors' count and their result are. */
const TRANSFERS: Record<string, { count: number; result: number }> = {
  fd_read: { count: 2, result: 3 },
  fd_write: { count: 2, result: 3 },
  fd_pread: { count: 2, result: 4 },
  fd_pwrite: { count: 2, result: 4 },
};

/** Calls that write a count of bytes they filled: where it is. */
const FILLED: Record<string, number> = {
  fd_readdir: 4,
  path_readlink: 5,
};

/**
 * Wraps the imports so that the guest pays for the host's work.
 *
 * @param imports The imports, as {@linkcode wasiImports} built them.
 * @param charges The rates, and how to charge.
 * @returns The same imports, paid for.
 */
export function paidImports(
  imports: Record<string, WasiImport>,
  charges: WasiCharges,
): Record<string, WasiImport> {
  const { charge, memory, perByte, perElement } = charges;
  /** The unsigned 32-bit value at `at`, once a call succeeded. */
  const u32 = (at: number) =>
    new DataView(memory().buffer).getUint32(at >>> 0, true);
  const paid: Record<string, WasiImport> = { ...imports };
  const wrap = (
    name: string,
    before: (args: unknown[]) => number | undefined,
    after?: (args: unknown[]) => number,
  ) => {
    const call = imports[name];
    if (call === undefined) return;
    paid[name] = (...args: unknown[]) => {
      const refused = before(args);
      if (refused !== undefined) return refused;
      const errno = call(...args);
      if (after === undefined) return errno;
      const settle = (errno: number) => {
        if (errno === ERRNO.SUCCESS) charge(after(args) * perByte);
        return errno;
      };
      return typeof errno === "number" ? settle(errno) : errno.then(settle);
    };
  };
  wrap("random_get", (args) => {
    const [buffer, length] = [args[0] as number, (args[1] as number) >>> 0];
    // A range outside memory is refused (FAULT) without work.
    if ((buffer >>> 0) + length <= memory().buffer.byteLength) {
      charge(length * perByte);
    }
    return undefined;
  });
  for (const [name, { count, result }] of Object.entries(TRANSFERS)) {
    wrap(name, (args) => {
      const vectors = (args[count] as number) >>> 0;
      // More than IOV_MAX is refused (INVAL) without work.
      if (vectors <= IOV_MAX) charge(vectors * perElement);
      return undefined;
    }, (args) => u32(args[result] as number));
  }
  wrap("poll_oneoff", (args) => {
    const subscriptions = (args[2] as number) >>> 0;
    if (subscriptions <= MAX_SUBSCRIPTIONS) {
      charge(subscriptions * perElement);
    }
    return undefined;
  });
  for (const [name, copied] of Object.entries(charges.copied)) {
    wrap(name, () => {
      charge(copied.strings * perElement + copied.bytes * perByte);
      return undefined;
    });
  }
  for (const [name, lengths] of Object.entries(PATH_LENGTHS)) {
    const filled = FILLED[name];
    wrap(
      name,
      (args) => {
        let bytes = 0;
        for (const at of lengths) {
          const length = (args[at] as number) >>> 0;
          if (length > PATH_MAX) return ERRNO.NAMETOOLONG;
          bytes += length;
        }
        charge(bytes * perByte);
        return undefined;
      },
      filled === undefined ? undefined : (args) => u32(args[filled] as number),
    );
  }
  wrap("fd_readdir", () => undefined, (args) => u32(args[4] as number));
  // What a call made the host read beyond what it moved: a directory
  // listing read afresh (at cookie 0 a call for 32 bytes of a directory of
  // 20,000 entries did 46 ms of the host's work for 46 fuel, call after
  // call), the targets of the links a path led through (an open through
  // 39 directory links of 4,000 bytes each, 0.7 to 300 ms of it for 1).
  const hostWork = charges.hostWork;
  if (hostWork !== undefined) {
    for (const [name, call] of Object.entries(paid)) {
      paid[name] = (...args: unknown[]) => {
        const settle = (errno: number) => {
          const bytes = hostWork();
          if (bytes > 0) charge(bytes * perByte);
          return errno;
        };
        const errno = call(...args);
        return errno instanceof Promise ? errno.then(settle) : settle(errno);
      };
    }
  }
  return paid;
}
