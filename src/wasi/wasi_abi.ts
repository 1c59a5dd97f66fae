/**
 * The parts of WASI preview1's binary interface that early-exit implements
 * or checks itself: error numbers, rights, open flags, the layout of
 * `poll_oneoff`'s subscriptions and events, and I/O vectors in guest memory.
 * The numbers are the ones `wasi/api.h` of wasi-libc defines.
 *
 * @module
 */

/** WASI error numbers (`__wasi_errno_t`) early-exit returns. */
export const ERRNO = {
  SUCCESS: 0,
  ACCES: 2,
  BADF: 8,
  FAULT: 21,
  INVAL: 28,
  IO: 29,
  LOOP: 32,
  MFILE: 33,
  NFILE: 41,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOTDIR: 54,
  NOTSUP: 58,
  PIPE: 64,
  ROFS: 69,
  NOTCAPABLE: 76,
} as const;

/** Rights (`__wasi_rights_t`) that let a descriptor change a file. */
export const WRITE_RIGHTS = (1n << 0n) | // fd_datasync
  (1n << 6n) | // fd_write
  (1n << 8n) | // fd_allocate
  (1n << 22n); // fd_filestat_set_size

/** `path_open`'s flags (`__wasi_oflags_t`) that change a file. */
export const WRITE_OFLAGS = (1 << 0) | // creat
  (1 << 3); // trunc

/** `__wasi_lookupflags_t`'s flag to follow a symbolic link at the end of a path. */
export const LOOKUP_SYMLINK_FOLLOW = 1 << 0;

/** `__wasi_fdflags_t`'s append flag. */
export const FDFLAG_APPEND = 1 << 0;

/** `__wasi_eventtype_t`. */
export const EVENTTYPE = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;

/** `__wasi_subclockflags_t`'s flag for an absolute time. */
export const SUBCLOCK_ABSTIME = 1 << 0;

/** `__wasi_clockid_t`. */
export const CLOCK = { REALTIME: 0, MONOTONIC: 1 } as const;

/** Size of a `__wasi_subscription_t`. */
export const SUBSCRIPTION_SIZE = 48;
/** Size of a `__wasi_event_t`. */
export const EVENT_SIZE = 32;

/** One `__wasi_subscription_t`, as read from guest memory. */
export type Subscription =
  | {
    userdata: bigint;
    type: typeof EVENTTYPE.CLOCK;
    clock: number;
    /** Nanoseconds, relative or absolute by `absolute`. */
    timeout: bigint;
    absolute: boolean;
  }
  | {
    userdata: bigint;
    type: typeof EVENTTYPE.FD_READ | typeof EVENTTYPE.FD_WRITE;
    fd: number;
  };

/**
 * The most subscriptions one `poll_oneoff` reads: each becomes an object on
 * the host, and a guest's count is otherwise bounded only by its memory
 * (89 million in 4 GiB, read in one host call no deadline interrupts).
 * 65,536 held the thread 5 ms a call, and a deadline up to 20 ms late; a
 * guest holds at most 1024 descriptors to poll.
 */
export const MAX_SUBSCRIPTIONS = 4096;

/**
 * Reads `count` subscriptions from guest memory.
 *
 * @param view The guest's memory.
 * @param at Where the first one starts.
 * @param count How many there are.
 * @returns The subscriptions, or an errno: `INVAL` for an unknown event
 *   type or more than {@linkcode MAX_SUBSCRIPTIONS}, `FAULT` for an array
 *   that does not fit in memory.
 */
export function readSubscriptions(
  view: DataView,
  at: number,
  count: number,
): Subscription[] | number {
  // The guest's i32 arguments arrive signed.
  at >>>= 0;
  count >>>= 0;
  if (count > MAX_SUBSCRIPTIONS) return ERRNO.INVAL;
  if (!fits(view.byteLength, at, count * SUBSCRIPTION_SIZE)) {
    return ERRNO.FAULT;
  }
  const subscriptions: Subscription[] = [];
  for (let i = 0; i < count; i++) {
    const base = at + i * SUBSCRIPTION_SIZE;
    const userdata = view.getBigUint64(base, true);
    const type = view.getUint8(base + 8);
    if (type === EVENTTYPE.CLOCK) {
      subscriptions.push({
        userdata,
        type,
        clock: view.getUint32(base + 16, true),
        timeout: view.getBigUint64(base + 24, true),
        absolute: (view.getUint16(base + 40, true) & SUBCLOCK_ABSTIME) !== 0,
      });
    } else if (type === EVENTTYPE.FD_READ || type === EVENTTYPE.FD_WRITE) {
      subscriptions.push({
        userdata,
        type,
        fd: view.getUint32(base + 16, true),
      });
    } else {
      return ERRNO.INVAL;
    }
  }
  return subscriptions;
}

/**
 * Whether `length` bytes from `at` (both unsigned 32-bit, as the guest
 * passed them) lie within a memory of `size` bytes.
 *
 * @param size The memory's size.
 * @param at Where the range starts.
 * @param length Its length.
 * @returns `true` when it fits.
 */
export function fits(size: number, at: number, length: number): boolean {
  return (at >>> 0) + length <= size;
}

/**
 * Writes one `__wasi_event_t` to guest memory.
 *
 * @param view The guest's memory.
 * @param at Where the event goes.
 * @param subscription The subscription that fired.
 * @param nbytes For a descriptor event, the bytes ready.
 */
export function writeEvent(
  view: DataView,
  at: number,
  subscription: Subscription,
  nbytes = 0n,
): void {
  view.setBigUint64(at, subscription.userdata, true);
  view.setUint16(at + 8, ERRNO.SUCCESS, true);
  view.setUint8(at + 10, subscription.type);
  view.setBigUint64(at + 16, nbytes, true);
  view.setUint16(at + 24, 0, true);
}

/**
 * The most vectors one `fd_read` or `fd_write` takes, as POSIX's `IOV_MAX`
 * on Linux and in wasi-libc: each becomes a view on the host, and a guest's
 * count is otherwise bounded only by its memory (512 million zero-length
 * vectors in 4 GiB, built in one host call no deadline interrupts).
 */
export const IOV_MAX = 1024;

/**
 * The buffers a `__wasi_iovec_t` array points at, as views of guest memory.
 *
 * @param memory The guest's memory.
 * @param at Where the array starts.
 * @param count How many vectors it has.
 * @returns One view per vector, or an errno: `INVAL` for more than
 *   {@linkcode IOV_MAX} vectors, `FAULT` for an array or a buffer that does
 *   not fit in memory.
 */
export function ioVectors(
  memory: WebAssembly.Memory,
  at: number,
  count: number,
): Uint8Array[] | number {
  // The guest's i32 arguments arrive signed.
  at >>>= 0;
  count >>>= 0;
  if (count > IOV_MAX) return ERRNO.INVAL;
  const buffer = memory.buffer;
  if (!fits(buffer.byteLength, at, count * 8)) return ERRNO.FAULT;
  const view = new DataView(buffer);
  const vectors: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const pointer = view.getUint32(at + i * 8, true);
    const length = view.getUint32(at + i * 8 + 4, true);
    if (pointer + length > buffer.byteLength) return ERRNO.FAULT;
    vectors.push(new Uint8Array(buffer, pointer, length));
  }
  return vectors;
}

/**
 * The most bytes one read or write moves, of a file or of the host's
 * stdout and stderr: the rest is a short read or write, which the guest's
 * libc makes again. One call could otherwise name 1024 buffers of 4 GiB
 * (4 TiB) and hold the host's thread, where no deadline reaches.
 */
export const MAX_TRANSFER = 1 << 20;

/**
 * The most vectors one read or write moves, of a file (passed to
 * `node:wasi`) or of stdio; the rest is a short read or write. `node:wasi`
 * writes a file a vector at a time: `fd_pwrite` of 1024 vectors of 1 KiB
 * held the thread 9 ms a call, and 1024 vectors to an inherited stdout 2 ms.
 */
export const MAX_TRANSFER_VECTORS = 64;

/**
 * Calls `transfer` (a read or write of a file by `node:wasi`, given a
 * count of vectors) with the guest's vectors cut to at most
 * {@linkcode MAX_TRANSFER} bytes and {@linkcode MAX_TRANSFER_VECTORS} vectors:
 * the first vectors that fit, or the first vector shortened, its length
 * put back in the guest's memory once the call returns.
 *
 * @param memory The guest's memory.
 * @param at Where the vectors are.
 * @param count How many the guest named.
 * @param transfer The call, given how many vectors to take.
 * @returns The call's errno, or the vectors' own (`INVAL`, `FAULT`).
 */
export function cappedTransfer(
  memory: WebAssembly.Memory,
  at: number,
  count: number,
  transfer: (count: number) => number,
): number {
  const vectors = ioVectors(memory, at, count);
  if (typeof vectors === "number") return vectors;
  let total = 0;
  let taken = 0;
  while (
    taken < vectors.length && taken < MAX_TRANSFER_VECTORS &&
    total + vectors[taken].length <= MAX_TRANSFER
  ) {
    total += vectors[taken++].length;
  }
  if (taken === vectors.length) return transfer(count);
  if (taken > 0) return transfer(taken);
  const lengthAt = (at >>> 0) + 4;
  const length = new DataView(memory.buffer).getUint32(lengthAt, true);
  new DataView(memory.buffer).setUint32(lengthAt, MAX_TRANSFER, true);
  try {
    return transfer(1);
  } finally {
    new DataView(memory.buffer).setUint32(lengthAt, length, true);
  }
}

/**
 * The longest path one call takes, in bytes, as Linux's `PATH_MAX`: a
 * longer one is refused with `NAMETOOLONG` before anything reads it. A
 * guest could otherwise name a path of 4 GiB, which `node:wasi` decodes
 * and copies in one host call no deadline interrupts (2.5 s for 512 MiB).
 */
export const PATH_MAX = 4096;

/**
 * The functions of WASI preview1 and their types, as `wasi/api.h` of
 * wasi-libc declares them: parameters, then results, `i` for `i32` and `I`
 * for `i64`.
 */
const WASI_TYPES: Record<string, [string, string]> = {
  args_get: ["ii", "i"],
  args_sizes_get: ["ii", "i"],
  environ_get: ["ii", "i"],
  environ_sizes_get: ["ii", "i"],
  clock_res_get: ["ii", "i"],
  clock_time_get: ["iIi", "i"],
  fd_advise: ["iIIi", "i"],
  fd_allocate: ["iII", "i"],
  fd_close: ["i", "i"],
  fd_datasync: ["i", "i"],
  fd_fdstat_get: ["ii", "i"],
  fd_fdstat_set_flags: ["ii", "i"],
  fd_fdstat_set_rights: ["iII", "i"],
  fd_filestat_get: ["ii", "i"],
  fd_filestat_set_size: ["iI", "i"],
  fd_filestat_set_times: ["iIIi", "i"],
  fd_pread: ["iiiIi", "i"],
  fd_prestat_get: ["ii", "i"],
  fd_prestat_dir_name: ["iii", "i"],
  fd_pwrite: ["iiiIi", "i"],
  fd_read: ["iiii", "i"],
  fd_readdir: ["iiiIi", "i"],
  fd_renumber: ["ii", "i"],
  fd_seek: ["iIii", "i"],
  fd_sync: ["i", "i"],
  fd_tell: ["ii", "i"],
  fd_write: ["iiii", "i"],
  path_create_directory: ["iii", "i"],
  path_filestat_get: ["iiiii", "i"],
  path_filestat_set_times: ["iiiiIIi", "i"],
  path_link: ["iiiiiii", "i"],
  path_open: ["iiiiiIIii", "i"],
  path_readlink: ["iiiiii", "i"],
  path_remove_directory: ["iii", "i"],
  path_rename: ["iiiiii", "i"],
  path_symlink: ["iiiii", "i"],
  path_unlink_file: ["iii", "i"],
  poll_oneoff: ["iiii", "i"],
  proc_exit: ["i", ""],
  proc_raise: ["i", "i"],
  sched_yield: ["", "i"],
  random_get: ["ii", "i"],
  sock_accept: ["iii", "i"],
  sock_recv: ["iiiiii", "i"],
  sock_send: ["iiiii", "i"],
  sock_shutdown: ["ii", "i"],
};

/**
 * The type WASI preview1 gives a function, as parameter and result types.
 *
 * @param name The function's name.
 * @returns Its types, or `undefined` when WASI preview1 has no such function.
 */
export function wasiFunctionType(
  name: string,
): { params: string[]; results: string[] } | undefined {
  if (!Object.hasOwn(WASI_TYPES, name)) return undefined;
  const types = (letters: string) =>
    [...letters].map((letter) => letter === "I" ? "i64" : "i32");
  const [params, results] = WASI_TYPES[name];
  return { params: types(params), results: types(results) };
}
