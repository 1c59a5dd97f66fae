/**
 * A WASI guest's preopened directories, checked against Deno's permissions
 * before `node:wasi` sees them: it needs both read and write access to each
 * one, and without read access fails as if the directory did not exist.
 *
 * @module
 */

import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { showValue } from "../option_checks.ts";
import { isInstance } from "../thrown_values.ts";
import { checkOptionNames } from "../option_names.ts";
import { MAX_LINKS, readable } from "./wasi_real_path.ts";

/**
 * A host directory a WASI guest may use, and under which path.
 *
 * @example Usage
 * ```ts
 * import type { WasiPreopen } from "@early-exit/early-exit";
 *
 * // The host's ./data, seen by the guest as /data, which it may only read.
 * const data: WasiPreopen = { host: "data", guest: "/data", mode: "read-only" };
 * console.log(data.guest);
 * ```
 */
export interface WasiPreopen {
  /** The directory on the host: a path, or a `file:` URL. */
  host: string | URL;
  /** The path the guest sees it at. Default: `host`. */
  guest?: string;
  /**
   * `read-write` (the default) or `read-only`. A read-only preopen still
   * needs write permission, which `node:wasi` asks for; early-exit refuses
   * the guest's writes under it with `EROFS`.
   */
  mode?: "read-only" | "read-write";
}

/**
 * The most preopens a run takes. Each is checked here and looked at again
 * by `node:wasi` before the guest runs, on the calling thread, where no stop
 * reaches: about 0.04 ms each on a 2-core machine at load average 5, so
 * that 1,000 preopens held an abort 40 ms at the median (140 at most) and
 * 10,000 held one 0.6 s.
 */
export const MAX_PREOPENS = 32;

/** A {@linkcode WasiPreopen} whose host is a path, as `runWasi` reads it. */
export type HostPreopen = WasiPreopen & { host: string };

/**
 * Checks that each preopen is a directory this process may read and write.
 *
 * @param preopens The preopens.
 * @throws {Deno.errors.NotCapable} Naming the flags to run with, when a permission is missing.
 * @throws {Deno.errors.NotFound} When a directory does not exist.
 * @throws {TypeError} When two preopens have the same guest name, or one is
 *   not a `WasiPreopen`.
 * @throws {RangeError} When there are more than {@linkcode MAX_PREOPENS}.
 * @returns The same preopens, each host a path.
 */
export function checkPreopens(
  preopens: readonly WasiPreopen[],
): readonly HostPreopen[] {
  checkShapes(preopens);
  const names = new Set<string>();
  for (const { host, guest = host } of preopens) {
    if (names.has(guest)) {
      throw new TypeError(
        `two preopens are named ${
          JSON.stringify(guest)
        } for the WASI guest: each needs a name of its own (set guest on one of them)`,
      );
    }
    names.add(guest);
  }
  for (const { host, guest = host } of preopens) {
    const missing = (["read", "write"] as const).filter((name) =>
      Deno.permissions.querySync({ name, path: host }).state !== "granted"
    );
    if (missing.length > 0) {
      const flags = missing.map((name) => `--allow-${name}=${host}`);
      throw new Deno.errors.NotCapable(
        `cannot preopen ${host} as ${guest} for the WASI guest: run with ${
          flags.join(" ")
        } (node:wasi needs read and write permission on every preopened directory, even a read-only one)`,
      );
    }
    let info;
    try {
      info = Deno.statSync(host);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(
          `cannot preopen ${host} for the WASI guest: no such directory; create it, or name one that exists`,
        );
      }
      throw error;
    }
    if (!info.isDirectory) {
      throw new Deno.errors.NotFound(
        `cannot preopen ${host} for the WASI guest: it is not a directory; name a directory`,
      );
    }
  }
  return preopens as readonly HostPreopen[];
}

/** The fields of a {@linkcode WasiPreopen}. */
const PREOPEN_FIELDS: readonly (keyof WasiPreopen)[] = [
  "host",
  "guest",
  "mode",
];

/** Where a read-only preopen's likely misspellings point. */
const READ_ONLY_HINT = 'a read-only preopen is { host, mode: "read-only" }';
const READ_ONLY_HINTS: Readonly<Record<string, string>> = {
  readOnly: READ_ONLY_HINT,
  readonly: READ_ONLY_HINT,
  "read-only": READ_ONLY_HINT,
  read_only: READ_ONLY_HINT,
  writable: READ_ONLY_HINT,
  write: READ_ONLY_HINT,
};

/**
 * Checks that a preopen has no field but `host`, `guest` and `mode`: an
 * unknown one (`readOnly: true`, say) would be dropped, and the preopen
 * left writable.
 *
 * @param preopen A preopen as given, an object.
 * @param at Which it is, e.g. `runWasi's preopens[0]`.
 * @throws {TypeError} Naming the field, and the field it is likely meant
 *   to be.
 *
 * @example Usage
 * ```ts
 * import { checkPreopenFields } from "./wasi_preopens.ts";
 * import assert from "node:assert/strict";
 *
 * checkPreopenFields({ host: "data", mode: "read-only" }, "preopens[0]");
 * assert.throws(
 *   () => checkPreopenFields({ host: "data", readOnly: true }, "preopens[0]"),
 *   /preopens\[0\] has no option "readOnly" \(a read-only preopen is/,
 * );
 * ```
 */
export function checkPreopenFields(preopen: object, at: string): void {
  checkOptionNames(preopen, PREOPEN_FIELDS, at, READ_ONLY_HINTS);
}

/**
 * Checks that `preopens` is a list of `WasiPreopen`s: a `mode` other than
 * the two (`"readonly"`, say) would otherwise make a read-write preopen,
 * and a name that is not a string would reach `node:wasi` as another.
 *
 * @throws {TypeError} Naming the preopen and what it should hold.
 */
function checkShapes(
  preopens: readonly WasiPreopen[],
): asserts preopens is readonly HostPreopen[] {
  if (!Array.isArray(preopens)) {
    throw new TypeError(
      `runWasi's preopens must be an array of { host, guest?, mode? }; got ${
        showValue(preopens)
      }`,
    );
  }
  if (preopens.length > MAX_PREOPENS) {
    throw new RangeError(
      `runWasi's preopens name ${preopens.length} directories, more than ${MAX_PREOPENS}: each is checked and opened before the guest runs, where no stop reaches it; preopen a directory that holds them instead`,
    );
  }
  preopens.forEach((preopen: unknown, i) => {
    const at = `runWasi's preopens[${i}]`;
    if (typeof preopen !== "object" || preopen === null) {
      throw new TypeError(
        `${at} must be { host, guest?, mode? }; got ${showValue(preopen)}`,
      );
    }
    const { host, guest, mode } = preopen as Record<string, unknown>;
    if (typeof host !== "string" || host === "") {
      throw new TypeError(
        `${at}.host must be the path of a directory, or a file: URL; got ${
          isInstance(host, URL) ? (host as URL).href : showValue(host)
        }`,
      );
    }
    if (guest !== undefined && (typeof guest !== "string" || guest === "")) {
      throw new TypeError(
        `${at}.guest must be the path the guest sees, such as /data; got ${
          showValue(guest)
        }`,
      );
    }
    for (const [field, value] of [["host", host], ["guest", guest]]) {
      if (value?.includes("\0")) {
        throw new TypeError(
          `${at}.${field} holds a NUL byte, which would end the path there; remove it`,
        );
      }
    }
    if (mode !== undefined && mode !== "read-only" && mode !== "read-write") {
      throw new TypeError(
        `${at}.mode must be "read-only" or "read-write"; got ${
          showValue(mode)
        }`,
      );
    }
  });
}

/**
 * The first read-write preopen that holds `path`, a file or directory the
 * host writes or trusts after the run: the guest could write there too.
 * The rewrite cache's directory, where the guest could change what the
 * next run of a guest with the same bytes runs (a rewrite without checks,
 * which no stop reaches); the command line's report file, which the guest
 * could replace with a link to another file before the report is written.
 *
 * @param preopens The preopens, checked by {@linkcode checkPreopens}.
 * @param path The host's path.
 * @returns That preopen, or `undefined` when none holds the path.
 */
export function preopenHolding(
  preopens: readonly HostPreopen[],
  path: string,
): HostPreopen | undefined {
  const pathAt = realOrResolved(path);
  return preopens.find(({ host, mode }) => {
    if (mode === "read-only") return false;
    const inside = relative(realOrResolved(host), pathAt);
    return inside === "" ||
      (!isAbsolute(inside) && inside.split(sep)[0] !== "..");
  });
}

/**
 * A path's real path, also for one whose last parts do not exist (yet): the
 * real path of the longest part that exists, then the rest part by part,
 * following a link there as the kernel would (a dangling one too). The
 * cache's directory is made at its first write, through whatever links lead
 * to it: judged by its path as written, one made through a link into a
 * preopen was taken for one beside it. A part it may not read without
 * asking (the permission prompt) ends the walk: the rest is taken as
 * written.
 */
function realOrResolved(path: string, links = 0): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    // It, or a part of it, does not exist: below.
  }
  const absolute = isAbsolute(path) ? path : `${Deno.cwd()}${sep}${path}`;
  // A Windows share (`\\server\share`) has no root to walk from.
  if (sep !== "/" && /^[\\/]{2}/.test(absolute)) return resolve(path);
  const parts = absolute.split(sep === "/" ? /\/+/ : /[\\/]+/);
  // The longest part that exists: its first `taken` parts.
  let at: string | undefined;
  let taken = parts.length;
  while (at === undefined && --taken > 0) {
    const prefix = parts.slice(0, taken).join(sep) + (taken === 1 ? sep : "");
    if (!readable(prefix)) return resolve(path);
    try {
      at = Deno.realPathSync(prefix);
    } catch {
      // Not there either: a shorter part.
    }
  }
  if (at === undefined) return resolve(path);
  for (const part of parts.slice(taken)) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      at = dirname(at);
      continue;
    }
    const next = join(at, part);
    let target: string | undefined;
    if (links < MAX_LINKS && readable(next)) {
      try {
        if (Deno.lstatSync(next).isSymlink) target = Deno.readLinkSync(next);
      } catch {
        // Not there: nor is anything after it.
      }
    }
    at = target === undefined ? next : realOrResolved(
      isAbsolute(target) ? target : `${at}${sep}${target}`,
      links + 1,
    );
  }
  return at;
}
