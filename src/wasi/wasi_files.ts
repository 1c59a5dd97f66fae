/**
 * The files a WASI guest opens through `node:wasi`, kept track of so that
 * every one is closed when the run ends, however it ends (`node:wasi`
 * leaves them open until garbage collection), and kept read-only under a
 * read-only preopen (`node:wasi` opens every preopen for reading and
 * writing).
 *
 * Only regular files and directories may be opened: `node:wasi` opens and
 * reads on the calling thread, so opening a FIFO (which waits for a writer)
 * or reading one, a socket or a terminal would hold the thread where no stop
 * reaches. Such a `path_open` fails with `ENOTSUP` before `node:wasi` sees
 * it.
 *
 * `path_open` resolves the path itself first, link by link, and refuses one
 * that a symbolic link leads out of its preopen (`ENOTCAPABLE`), or that
 * ends in a link the guest did not ask to follow (`ELOOP`, as `O_NOFOLLOW`
 * does): `node:wasi` follows such a link wherever it leads, and creates the
 * file a dangling one names, outside the preopen and past Deno's
 * permissions, which see only the link's own path.
 *
 * The check and `node:wasi`'s open are two looks at one path, and another
 * process can change what is there between them. So the open is checked
 * again once it is made: the path is resolved anew, and the descriptor
 * `node:wasi` gave must be a regular file or directory by its own `fstat`;
 * otherwise the descriptor is closed and the open refused as the check
 * would have refused it (a link out, `ENOTCAPABLE`; a FIFO, socket or
 * device, `ENOTSUP`), and the file the guest holds is known by what the
 * second look found. What no look can see: `node:wasi` reports neither the
 * device nor the inode of what it opened, and does not honour
 * `O_NONBLOCK`, so a FIFO put in place for the open itself still holds it
 * until a writer comes, a link to a regular file outside swapped in and
 * back again around the open is not told from the file, and a file created
 * through a dangling link so swapped in stays created.
 *
 * A call that takes an entry away (`path_remove_directory`,
 * `path_unlink_file`, `path_rename`, from or to) may not name the preopen
 * itself (`ENOTCAPABLE`), whose entry is in its parent, outside it.
 *
 * A guest holds at most {@linkcode MAX_OPEN_FILES} descriptors at once,
 * and the guests of this process together at most `MAX_GUEST_DESCRIPTORS`
 * (see `wasi_open_descriptors.ts`).
 *
 * @module
 */

import { isAbsolute, join, relative, resolve, sep } from "node:path";
import {
  cappedTransfer,
  ERRNO,
  FDFLAG_APPEND,
  fits,
  LOOKUP_SYMLINK_FOLLOW,
  WRITE_OFLAGS,
  WRITE_RIGHTS,
} from "./wasi_abi.ts";
import { DirectoryListings, DIRENT_SIZE } from "./wasi_readdir.ts";
import { type Found, realPathPaid } from "./wasi_real_path.ts";
import type { StopWatch } from "./wasi_stops.ts";
import {
  guestDescriptorsFull,
  OpenDescriptors,
} from "./wasi_open_descriptors.ts";
import {
  flushFile,
  holdFile,
  hostFile,
  releaseFile,
  sameFile,
  truncateFile,
} from "./wasi_disk.ts";
import type { HostFile } from "./wasi_listed.ts";

/**
 * `path` without the separators at its end (`/`, and this system's own),
 * found by a walk back from the end: the regular expression `/\/+$/`
 * tried each slash of a long run, so a 4,000-slash link target took 30 ms
 * to trim, and a chain of 40 such links (which a guest can make in a
 * writable preopen) held one `path_open` 1.5 s past its deadline.
 *
 * @param path A path.
 * @returns It, trimmed.
 */
export function withoutSeparatorsAtEnd(path: string): string {
  let end = path.length;
  while (end > 0) {
    const char = path[end - 1];
    if (char !== "/" && char !== sep) break;
    end--;
  }
  return end === path.length ? path : path.slice(0, end);
}

/** How many symbolic links one path may pass through, as on Linux. */
const MAX_SYMLINKS = 40;

/** Whether `path` is `root` or under it (both real paths). */
function within(root: string, path: string): boolean {
  const inside = relative(root, path);
  return inside === "" ||
    (!isAbsolute(inside) && inside.split(sep)[0] !== "..");
}

/** A WASI function, as `node:wasi` provides it. */
// deno-lint-ignore no-explicit-any
export type WasiFunction = (...args: any[]) => number;

/**
 * Functions that change what a directory holds, and which of their
 * arguments are directories that must not be read-only.
 */
const DIRECTORY_CHANGES: Record<string, number[]> = {
  path_create_directory: [0],
  path_remove_directory: [0],
  path_unlink_file: [0],
  path_rename: [0, 3],
  path_symlink: [2],
  // The source too: a link elsewhere would open the file for writing.
  path_link: [0, 4],
  path_filestat_set_times: [0],
};

/**
 * Functions that read what is behind a directory descriptor, by its path:
 * a listing and a stat (the calls that change it, and those that take a
 * path under it, `node:wasi` keeps inside the preopen itself).
 */
const DIRECTORY_READS = ["fd_readdir", "fd_filestat_get"];

/**
 * Functions whose paths `node:wasi` resolves through the system, which
 * follows the links on the way unseen: where each path's directory, lookup
 * flags (when it has them) and path are among their arguments. Each path
 * is walked here first, for its link targets to be paid for.
 */
const PATHS_WALKED: Record<string, [number, number | undefined, number][]> = {
  path_create_directory: [[0, undefined, 1]],
  path_filestat_get: [[0, 1, 2]],
  path_filestat_set_times: [[0, 1, 2]],
  path_link: [[0, 1, 2], [4, undefined, 5]],
  path_readlink: [[0, undefined, 1]],
  path_remove_directory: [[0, undefined, 1]],
  path_symlink: [[2, undefined, 3]],
};

/** Functions that change the file behind their first argument. */
const FILE_CHANGES = [
  "fd_write",
  "fd_pwrite",
  "fd_allocate",
  "fd_filestat_set_size",
  "fd_filestat_set_times",
];

/**
 * Functions that may take a name from a file, which then has none left and
 * its blocks freed: where their directory, path and path's length are.
 */
const NAME_TAKERS: Record<string, number> = {
  path_unlink_file: 0,
  path_rename: 3,
};

/**
 * Functions that take a directory entry away from where it is, and where
 * each such directory and path are among their arguments: `node:wasi`
 * resolves `.` and `..` by the path's text, so `.` named the preopen
 * itself, and a preopen the guest emptied was removed from its parent, or
 * moved into another preopen, outside what the guest was given.
 */
const ENTRY_TAKERS: Record<string, [number, number][]> = {
  path_remove_directory: [[0, 1]],
  path_unlink_file: [[0, 1]],
  path_rename: [[0, 1], [3, 4]],
};

/** Size of a `__wasi_filestat_t`, and where its `size` and `filetype` are. */
const FILESTAT_SIZE = 64;
const FILESTAT_SIZE_AT = 32;
const FILESTAT_FILETYPE_AT = 16;

/** The `filetype`s a guest may hold open. */
const FILETYPE_DIRECTORY = 3;
const FILETYPE_REGULAR_FILE = 4;

/** `path_open`'s flag to truncate the file. */
const OFLAG_TRUNC = 1 << 3;

/** The calls that flush a file, and whether they flush only its data. */
const FLUSHES: [string, boolean][] = [
  ["fd_sync", false],
  ["fd_datasync", true],
];

/**
 * The most descriptors a guest holds open at once, its preopens included;
 * past them `path_open` fails with `EMFILE`, as under Linux's default
 * `ulimit -n`. Every one is a descriptor of this process: a guest opening
 * files without end would otherwise take all the process may have (the
 * host's own opens, and other guests', failing meanwhile).
 */
export const MAX_OPEN_FILES = 1024;

/** The first descriptor `node:wasi` gives a preopen. */
export const FIRST_PREOPEN_FD = 3;

/** A preopened directory, as {@linkcode GuestFiles} needs it. */
export interface PreopenedDirectory {
  /** Its path on the host. */
  host: string;
  /** Whether the guest may only read under it. */
  readOnly: boolean;
}

/** Where a directory descriptor is on the host, and the preopen it is under. */
interface HostDirectory {
  path: string;
  root: string;
}

/** What a listing looks at: the run's stops, and how it runs. */
export interface ListingStops {
  /** The run's stops. */
  watch: StopWatch;
  /** Whether the guest runs as a plain call, which cannot wait for a read. */
  blocking: boolean;
}

/** Tracks a guest's descriptors and wraps the calls that open, close and change files. */
export class GuestFiles {
  readonly #wasi: Record<string, WasiFunction>;
  readonly #memory: () => WebAssembly.Memory;
  readonly #open = new OpenDescriptors();
  readonly #readOnly = new Set<number>();
  readonly #directories = new Map<number, HostDirectory>();
  /** Every descriptor's file or directory, as opened, for disk work. */
  readonly #hostFiles = new Map<number, HostFile | undefined>();
  /**
   * Files held open on the listing thread (by device and inode), until the
   * guest holds no descriptor of them: see {@linkcode holdFile}.
   */
  readonly #held = new Map<string, number>();
  readonly #listings = new DirectoryListings();
  /** The bytes of the link targets followed since they were last asked for. */
  #linkBytes = 0;
  readonly #stops: ListingStops | undefined;

  /**
   * Starts tracking.
   *
   * @param wasi `node:wasi`'s functions.
   * @param memory The guest's memory, once it is instantiated.
   * @param preopens The preopens, in order.
   * @param stops The run's stops, which `fd_readdir` looks at; without
   *   them, `node:wasi` lists directories.
   */
  constructor(
    wasi: Record<string, WasiFunction>,
    memory: () => WebAssembly.Memory,
    preopens: PreopenedDirectory[],
    stops?: ListingStops,
  ) {
    this.#wasi = wasi;
    this.#memory = memory;
    this.#stops = stops;
    preopens.forEach(({ host, readOnly }, index) => {
      const fd = FIRST_PREOPEN_FD + index;
      this.#open.add(fd);
      if (readOnly) this.#readOnly.add(fd);
      this.#directories.set(fd, { path: host, root: host });
      this.#hostFiles.set(fd, hostFile(host));
    });
  }

  /**
   * Refuses a call that would take away the entry of the preopen that the
   * directory descriptor `dir` is under, named by `path` as `node:wasi`
   * reads it (`.` and `..` by the text, and the empty path as the directory
   * itself): that entry is in the preopen's parent, outside what the guest
   * was given. `NOTCAPABLE` for the preopen, `NOENT` for an empty path (as
   * the system answers), or `undefined` to let the call go on.
   */
  #takesPreopen(
    dir: number,
    path: number,
    pathLength: number,
  ): number | undefined {
    const directory = this.#directories.get(dir);
    const { buffer } = this.#memory();
    // Not a directory the guest holds, or a path outside memory: node:wasi
    // refuses those.
    if (
      directory === undefined || path < 0 || pathLength < 0 ||
      path + pathLength > buffer.byteLength
    ) return undefined;
    if (pathLength === 0) return ERRNO.NOENT;
    const name = new TextDecoder().decode(
      new Uint8Array(buffer, path, pathLength),
    );
    const named = resolve(directory.path, name);
    if (named === resolve(directory.root)) return ERRNO.NOTCAPABLE;
    // A subdirectory's descriptor is known by its real path: from it, `..`
    // reaches the preopen by the preopen's real path.
    try {
      if (named === Deno.realPathSync(directory.root)) {
        return ERRNO.NOTCAPABLE;
      }
    } catch {
      // A preopen that is gone has no entry left to take.
    }
    return undefined;
  }

  /**
   * What `path_open` would open, when it is inside a preopen: a regular
   * file or directory, something else (a FIFO, a socket, a device), or
   * `undefined` when it cannot tell (nothing there yet, no permission to
   * look), which `node:wasi` then judges; or the errno that refuses the
   * open: `NOTCAPABLE` for a path that a symbolic link leads out of the
   * preopen, `LOOP` for one that ends in a link the guest did not ask to
   * follow, `NOENT` for an empty path, `NOTDIR` or `BADF` for a descriptor
   * that is not a directory the guest holds.
   *
   * The path is resolved as the kernel will resolve it, link by link:
   * `node:wasi` lets a link at the end of the path lead anywhere when the
   * guest does not ask it to follow links (it opens the file the link
   * names all the same), or when the link names a file that does not exist
   * yet (which `O_CREAT` then creates), past the preopen and past Deno's
   * permissions, which see only the link's own path.
   */
  #target(
    dir: number,
    dirflags: number,
    path: number,
    pathLength: number,
  ):
    | { kind: "directory" | "file" | "other"; path: string }
    | number
    | undefined {
    const directory = this.#directories.get(dir);
    // Every directory the guest holds is known here, so a descriptor that
    // is not is a file's (or none): node:wasi, which would resolve the path
    // from it unchecked, is not asked.
    if (directory === undefined) {
      return this.#open.has(dir) ? ERRNO.NOTDIR : ERRNO.BADF;
    }
    const { buffer } = this.#memory();
    // A path outside memory is node:wasi's to refuse (EFAULT).
    if (path < 0 || pathLength < 0 || path + pathLength > buffer.byteLength) {
      return undefined;
    }
    const name = new TextDecoder().decode(
      new Uint8Array(buffer, path, pathLength),
    );
    // node:wasi opens the directory itself for an empty path, and the
    // descriptor it gives would be one this walk never saw; openat gives
    // ENOENT.
    if (name === "") return ERRNO.NOENT;
    // An absolute path is node:wasi's to refuse.
    if (name.startsWith("/")) return undefined;
    let root: string;
    try {
      root = Deno.realPathSync(directory.root);
    } catch {
      return undefined;
    }
    // A trailing slash follows a link at the end, as the kernel does.
    const follow = (dirflags & LOOKUP_SYMLINK_FOLLOW) !== 0 ||
      name.endsWith("/");
    // The links among the path's directories are walked here, one by one,
    // and their targets paid for, as those of its last part.
    const starts = [directory.root, root];
    const found = new Map<string, Found>();
    const paid = (bytes: number) => {
      this.#linkBytes += bytes;
    };
    let at = `${directory.path}/${name}`;
    for (let links = 0; links <= MAX_SYMLINKS; links++) {
      const trimmed = withoutSeparatorsAtEnd(at);
      const slash = Math.max(
        trimmed.lastIndexOf("/"),
        sep === "/" ? -1 : trimmed.lastIndexOf(sep),
      );
      const last = trimmed.slice(slash + 1);
      // Every part of the path but the last is resolved as it comes, so
      // that a `..` after a link goes where the kernel would take it.
      const parent = last === "." || last === ".."
        ? trimmed
        : trimmed.slice(0, slash) || "/";
      let real: string;
      try {
        real = realPathPaid(parent, starts, root, paid, found);
      } catch (error) {
        // Not readable here: outside the preopens, which must be.
        return error instanceof Deno.errors.NotCapable
          ? ERRNO.NOTCAPABLE
          : undefined;
      }
      if (!within(root, real)) return ERRNO.NOTCAPABLE;
      if (parent === trimmed) return { kind: "directory", path: real };
      const target = join(real, last);
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(target);
      } catch (error) {
        return error instanceof Deno.errors.NotCapable
          ? ERRNO.NOTCAPABLE
          : undefined;
      }
      if (info.isSymlink) {
        if (!follow) return ERRNO.LOOP;
        let link: string;
        try {
          link = Deno.readLinkSync(target);
        } catch (error) {
          if (error instanceof Deno.errors.NotCapable) return ERRNO.NOTCAPABLE;
          // No longer a link (another process replaced it since the look
          // above): look again, as one more step of the walk.
          continue;
        }
        this.#linkBytes += link.length;
        at = isAbsolute(link) ? link : `${real}/${link}`;
        continue;
      }
      if (info.isDirectory) return { kind: "directory", path: target };
      if (info.isFile) return { kind: "file", path: target };
      return { kind: "other", path: target };
    }
    return ERRNO.LOOP;
  }

  /**
   * The bytes read for the guest since the last time this was asked,
   * beyond those its calls moved: the directory listings read afresh (see
   * `DirectoryListings.takeListedBytes`) and the targets of the links its
   * paths led through, each time a path is resolved (at most 40 at each
   * step of the walk, but a target can be as long as a path).
   */
  takeHostWorkBytes(): number {
    const bytes = this.#linkBytes + this.#listings.takeListedBytes();
    this.#linkBytes = 0;
    return bytes;
  }

  /** The wrapped functions, to lay over `node:wasi`'s. */
  functions(): Record<string, WasiFunction> {
    const wasi = this.#wasi;
    const readOnly = this.#readOnly;
    const wrapped: Record<string, WasiFunction> = {
      path_open: (
        dir: number,
        dirflags: number,
        path: number,
        pathLength: number,
        oflags: number,
        rightsBase: bigint,
        rightsInheriting: bigint,
        fdflags: number,
        opened: number,
      ) => {
        const writes = (oflags & WRITE_OFLAGS) !== 0 ||
          (BigInt(rightsBase) & WRITE_RIGHTS) !== 0n ||
          (fdflags & FDFLAG_APPEND) !== 0;
        if (readOnly.has(dir) && writes) return ERRNO.ROFS;
        if (this.#open.size >= MAX_OPEN_FILES) return ERRNO.MFILE;
        if (guestDescriptorsFull()) return ERRNO.NFILE;
        // node:wasi opens the file before it finds no room for the
        // descriptor, and answers FAULT with the file left open, in its
        // table and this process's, where nothing here would close it.
        if (!fits(this.#memory().buffer.byteLength, opened, 4)) {
          return ERRNO.FAULT;
        }
        const target = this.#target(dir, dirflags, path, pathLength);
        if (typeof target === "number") return target;
        if (target?.kind === "other") return ERRNO.NOTSUP;
        // Truncating frees the file's blocks: node:wasi opens it whole,
        // and the listing thread truncates it.
        const truncated = (oflags & OFLAG_TRUNC) !== 0 &&
            this.#stops !== undefined && target?.kind === "file"
          ? hostFile(target.path)
          : undefined;
        if (truncated !== undefined && truncated.size > 0) {
          oflags &= ~OFLAG_TRUNC;
        }
        const errno = wasi.path_open(
          dir,
          dirflags,
          path,
          pathLength,
          oflags,
          rightsBase,
          rightsInheriting,
          fdflags,
          opened,
        );
        if (errno === ERRNO.SUCCESS) {
          const fd = new DataView(this.#memory().buffer).getUint32(
            opened >>> 0,
            true,
          );
          // What is at the path now, and what node:wasi opened: another
          // process may have put a link or a FIFO there since the check.
          const found = this.#target(dir, dirflags, path, pathLength);
          if (typeof found === "number") {
            wasi.fd_close(fd);
            return found;
          }
          if (found?.kind === "other" || !this.#openedFileOrDirectory(fd)) {
            wasi.fd_close(fd);
            return ERRNO.NOTSUP;
          }
          this.#open.add(fd);
          if (readOnly.has(dir)) readOnly.add(fd);
          if (found?.kind === "directory") {
            const { root } = this.#directories.get(dir)!;
            this.#directories.set(fd, { path: found.path, root });
          }
          this.#hostFiles.set(
            fd,
            typeof found === "object" ? hostFile(found.path) : undefined,
          );
          if (truncated !== undefined && truncated.size > 0) {
            return this.#truncate(fd, truncated, 0);
          }
        }
        return errno;
      },
      fd_close: (fd: number) => {
        const errno = wasi.fd_close(fd);
        if (errno === ERRNO.SUCCESS) {
          const file = this.#hostFiles.get(fd);
          this.#forget(fd);
          if (file !== undefined) this.#releaseUnused(file);
        }
        return errno;
      },
      fd_renumber: (from: number, to: number) => {
        // Both must be open, as WASI has it: node:wasi renumbered onto any
        // number, and grew its table of descriptors to that size (10
        // million took half a gigabyte; 2^31 - 1 ran the machine out of
        // memory).
        if (!this.#open.has(from) || !this.#open.has(to)) return ERRNO.BADF;
        const errno = wasi.fd_renumber(from, to);
        if (errno === ERRNO.SUCCESS) {
          const wasReadOnly = readOnly.has(from);
          const directory = this.#directories.get(from);
          const file = this.#hostFiles.get(from);
          this.#forget(from);
          this.#forget(to);
          this.#open.add(to);
          this.#hostFiles.set(to, file);
          if (wasReadOnly) readOnly.add(to);
          if (directory !== undefined) this.#directories.set(to, directory);
        }
        return errno;
      },
    };
    for (const [name, directories] of Object.entries(DIRECTORY_CHANGES)) {
      const named = NAME_TAKERS[name];
      const entries = ENTRY_TAKERS[name] ?? [];
      wrapped[name] = (...args: number[]) => {
        if (directories.some((i) => readOnly.has(args[i]))) return ERRNO.ROFS;
        for (const [dir, path] of entries) {
          const errno = this.#takesPreopen(
            args[dir],
            args[path],
            args[path + 1],
          );
          if (errno !== undefined) return errno;
        }
        if (named === undefined) return wasi[name](...args);
        // A rename moves the files the guest holds under the old path.
        const from = name === "path_rename" && this.#stops !== undefined
          ? this.#target(args[0], 0, args[1], args[2])
          : undefined;
        const moved = (errno: number) => {
          if (errno === ERRNO.SUCCESS && typeof from === "object") {
            const to = this.#target(args[3], 0, args[4], args[5]);
            if (typeof to === "object") this.#moved(from.path, to.path);
          }
          return errno;
        };
        const errno = this.#takingName(
          args[named],
          args[named + 1],
          args[named + 2],
          () => wasi[name](...args),
        );
        return (typeof errno === "number"
          ? moved(errno)
          : errno.then(moved)) as number;
      };
    }
    // The links these paths lead through are paid for as path_open's are
    // (the walk's answer is node:wasi's to give).
    for (const [name, paths] of Object.entries(PATHS_WALKED)) {
      const call = wrapped[name] ?? wasi[name];
      wrapped[name] = (...args: number[]) => {
        for (const [dir, flags, path] of paths) {
          this.#target(
            args[dir],
            flags === undefined ? 0 : args[flags],
            args[path],
            args[path + 1],
          );
        }
        return call(...args);
      };
    }
    // node:wasi finds a directory's descriptor by its path, which the
    // guest may have renamed and put a link out of the preopen in place of.
    for (const name of DIRECTORY_READS) {
      const call = wrapped[name] ?? wasi[name];
      wrapped[name] = (fd: number, ...rest: unknown[]) =>
        this.#movedOut(fd) ? ERRNO.NOTCAPABLE : call(fd, ...rest);
    }
    // node:wasi stops short of a full buffer when the next entry's header
    // does not fit in what is left, and a count under the buffer's size
    // tells the guest (wasi-libc's readdir) that the directory ended: a
    // listing lost its entries past such a point. The rest is filled, as
    // with an entry cut short, and the guest reads on from the last whole
    // entry (getting none, when it was the last).
    const readdir = wrapped.fd_readdir;
    wrapped.fd_readdir = (
      fd: number,
      buffer: number,
      length: number,
      cookie: bigint,
      used: number,
    ) => {
      // A directory the guest opened is listed here, from a listing kept
      // between calls (see wasi_readdir.ts); one it could not be told to
      // be (or with no stops to look at) by node:wasi.
      const directory = this.#directories.get(fd);
      if (directory !== undefined && this.#stops !== undefined) {
        const real = this.#realPath(directory);
        if (real === ERRNO.NOTCAPABLE) return real;
        if (typeof real === "string") {
          return this.#listings.readdir(
            this.#memory,
            fd,
            real,
            [buffer, length, cookie, used],
            this.#stops.watch,
            this.#stops.blocking,
          ) as number;
        }
      }
      const errno = readdir(fd, buffer, length, cookie, used);
      if (errno !== ERRNO.SUCCESS) return errno;
      const memory = this.#memory().buffer;
      const view = new DataView(memory);
      const filled = view.getUint32(used >>> 0, true);
      const left = (length >>> 0) - filled;
      if (filled > 0 && left > 0 && left < DIRENT_SIZE) {
        new Uint8Array(memory, (buffer >>> 0) + filled, left).fill(0);
        view.setUint32(used >>> 0, length >>> 0, true);
      }
      return errno;
    };
    // node:wasi flushes on this thread, for as long as the disk takes.
    for (const [name, dataOnly] of FLUSHES) {
      wrapped[name] = (fd: number) => {
        const stops = this.#stops;
        if (stops === undefined || !this.#open.has(fd) || fd <= 2) {
          return wasi[name](fd);
        }
        const file = this.#hostFiles.get(fd);
        if (file === undefined) return ERRNO.IO;
        return flushFile(
          file,
          dataOnly,
          stops,
          this.#held.get(`${file.dev}:${file.ino}`),
        ) as number;
      };
    }
    for (const name of FILE_CHANGES) {
      wrapped[name] = (fd: number, ...rest: unknown[]) =>
        readOnly.has(fd) ? ERRNO.ROFS : wasi[name](fd, ...rest);
    }
    // Shrinking a file frees its blocks: the listing thread truncates it,
    // once node:wasi has judged the call (rights, descriptor) by a
    // truncation to the size it has.
    wrapped.fd_filestat_set_size = (fd: number, size: bigint) => {
      if (readOnly.has(fd)) return ERRNO.ROFS;
      const opened = this.#hostFiles.get(fd);
      const now = opened === undefined || this.#stops === undefined
        ? undefined
        : this.#sizeOf(fd);
      if (now === undefined || BigInt(size) >= now) {
        return wasi.fd_filestat_set_size(fd, size);
      }
      const errno = wasi.fd_filestat_set_size(fd, now);
      if (errno !== ERRNO.SUCCESS) return errno;
      return this.#truncate(fd, opened!, Number(size));
    };
    // Reads and writes move at most MAX_TRANSFER bytes a call.
    for (const name of ["fd_read", "fd_pread", "fd_write", "fd_pwrite"]) {
      const call = wrapped[name] ?? wasi[name];
      wrapped[name] = (fd: number, iovs: number, count: number, ...rest) =>
        cappedTransfer(
          this.#memory(),
          iovs,
          count,
          (taken) => call(fd, iovs, taken, ...rest),
        );
    }
    return wrapped;
  }

  /**
   * Whether a directory descriptor's path now leads out of its preopen
   * (the guest renamed the directory and made a link by its old name).
   * A path that no longer resolves is node:wasi's to answer.
   */
  #movedOut(fd: number): boolean {
    const directory = this.#directories.get(fd);
    return directory !== undefined &&
      this.#realPath(directory) === ERRNO.NOTCAPABLE;
  }

  /**
   * Where a directory is on the host, links resolved: `NOTCAPABLE` when
   * that is out of its preopen, `undefined` when it does not resolve.
   */
  #realPath(directory: HostDirectory): string | number | undefined {
    let root: string | undefined;
    try {
      root = Deno.realPathSync(directory.root);
    } catch {
      // Judged below, after the path, as the path's error comes first.
    }
    try {
      // The links on the way are paid for, as a path's (see #target).
      const real = root === undefined
        ? Deno.realPathSync(directory.path)
        : realPathPaid(
          directory.path,
          [directory.root, root],
          root,
          (bytes) => {
            this.#linkBytes += bytes;
          },
        );
      return within(root ?? Deno.realPathSync(directory.root), real)
        ? real
        : ERRNO.NOTCAPABLE;
    } catch (error) {
      return error instanceof Deno.errors.NotCapable
        ? ERRNO.NOTCAPABLE
        : undefined;
    }
  }

  /**
   * Whether what `fd` holds is a regular file or a directory, by
   * node:wasi's `fstat` of it (through guest memory, whose bytes are put
   * back).
   */
  #openedFileOrDirectory(fd: number): boolean {
    const bytes = new Uint8Array(this.#memory().buffer);
    if (bytes.length < FILESTAT_SIZE) return false;
    const saved = bytes.slice(0, FILESTAT_SIZE);
    try {
      if (this.#wasi.fd_filestat_get(fd, 0) !== ERRNO.SUCCESS) return false;
      const type = bytes[FILESTAT_FILETYPE_AT];
      return type === FILETYPE_DIRECTORY || type === FILETYPE_REGULAR_FILE;
    } finally {
      new Uint8Array(this.#memory().buffer).set(saved);
    }
  }

  /**
   * The size of the file the guest holds as `fd`, as node:wasi gives it
   * (through guest memory, whose bytes are put back), or `undefined`.
   */
  #sizeOf(fd: number): bigint | undefined {
    const bytes = new Uint8Array(this.#memory().buffer);
    if (bytes.length < FILESTAT_SIZE) return undefined;
    const saved = bytes.slice(0, FILESTAT_SIZE);
    try {
      if (this.#wasi.fd_filestat_get(fd, 0) !== ERRNO.SUCCESS) return undefined;
      return new DataView(bytes.buffer).getBigUint64(FILESTAT_SIZE_AT, true);
    } finally {
      new Uint8Array(this.#memory().buffer).set(saved);
    }
  }

  /**
   * Truncates a file the guest holds as `fd` on the listing thread, by its
   * path or by the descriptor held there when it was removed; when that
   * cannot reach it (another process moved it), node:wasi does.
   */
  #truncate(fd: number, file: HostFile, size: number): number {
    const done = (errno: number) =>
      errno === ERRNO.SUCCESS
        ? errno
        : this.#wasi.fd_filestat_set_size(fd, BigInt(size));
    const errno = truncateFile(
      file,
      size,
      this.#stops!,
      this.#held.get(`${file.dev}:${file.ino}`),
    );
    return (typeof errno === "number"
      ? done(errno)
      : errno.then(done)) as number;
  }

  /**
   * Runs `call`, which may take the name at `path` in directory `dir` from
   * a file (a removal, or a rename over it), with that file held open on
   * the listing thread, so that its blocks are freed there, not here.
   */
  #takingName(
    dir: number,
    path: number,
    pathLength: number,
    call: () => number,
  ): number | Promise<number> {
    const stops = this.#stops;
    const target = stops === undefined
      ? undefined
      : this.#target(dir, 0, path, pathLength);
    const file = typeof target === "object" && target.kind === "file"
      ? hostFile(target.path)
      : undefined;
    const key = file === undefined ? "" : `${file.dev}:${file.ino}`;
    if (file === undefined || this.#held.has(key)) {
      return call();
    }
    const { id, held } = holdFile(file, stops!);
    const then = (heldErrno: number) => {
      if (heldErrno === ERRNO.SUCCESS) this.#held.set(key, id);
      else releaseFile(id);
      const errno = call();
      if (heldErrno === ERRNO.SUCCESS) this.#releaseUnused(file);
      return errno;
    };
    return typeof held === "number" ? then(held) : held.then(then, (error) => {
      releaseFile(id);
      throw error;
    });
  }

  /** Follows a rename of `from` to `to` in the paths of the files held. */
  #moved(from: string, to: string): void {
    for (const [fd, file] of this.#hostFiles) {
      if (file === undefined) continue;
      if (file.path === from) {
        this.#hostFiles.set(fd, { ...file, path: to });
      } else if (file.path.startsWith(`${from}/`)) {
        this.#hostFiles.set(fd, {
          ...file,
          path: to + file.path.slice(from.length),
        });
      }
    }
  }

  /** Lets go of a held file once the guest holds no descriptor of it. */
  #releaseUnused(file: HostFile): void {
    const key = `${file.dev}:${file.ino}`;
    const id = this.#held.get(key);
    if (id === undefined) return;
    for (const open of this.#hostFiles.values()) {
      if (open !== undefined && sameFile(open, file)) return;
    }
    this.#held.delete(key);
    releaseFile(id);
  }

  #forget(fd: number): void {
    this.#hostFiles.delete(fd);
    this.#listings.forget(fd);
    this.#open.delete(fd);
    this.#readOnly.delete(fd);
    this.#directories.delete(fd);
  }

  /** How many descriptors are open, preopens included. */
  get openCount(): number {
    return this.#open.size;
  }

  /** Closes every descriptor still open: the guest's files and the preopens. */
  closeAll(): void {
    for (const fd of this.#open) this.#wasi.fd_close(fd);
    this.#open.clear();
    this.#readOnly.clear();
    this.#directories.clear();
    this.#hostFiles.clear();
    for (const id of this.#held.values()) releaseFile(id);
    this.#held.clear();
    this.#listings.clear();
  }
}
