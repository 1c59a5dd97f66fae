/**
 * An on-disk cache of rewritten modules, opt-in: a process that meters the
 * same guest with the same options again reads the rewrite instead of
 * making it, which is most of a metered start-up in a fresh process (the
 * rewriter's JavaScript has not been optimised yet there).
 *
 * Each entry is one file, named by its key: the SHA-256 of the rewriter's
 * fingerprint (see `rewriter_fingerprint.ts`), every option the rewriter
 * was given, and the input's bytes but for the payloads the rewriter copies
 * unchanged (data segments' bytes, most custom sections' contents; their
 * places and lengths are in the key, see `rewrite_splice.ts`). Any change to
 * one of them is another key, so a changed rewriter or option never reads an
 * entry made by another. The entry holds the output but for those payloads,
 * which a hit takes from the input it is given. The file holds a digest of
 * its key, metadata and stored output: an entry that is truncated,
 * corrupted or copied under another key's name is not used, but rewritten
 * and replaced. Entries are written to a temporary
 * file in the same directory, then renamed over the entry, so that a
 * process never reads half of one, however many write at once.
 *
 * What the cache trusts: whoever can write its directory can change what
 * the guest runs, as whoever can write the guest's file can. The digest
 * catches accidents, not someone who means harm.
 *
 * @module
 */

import { readOption } from "../option_checks.ts";
import { concatBytes, hex, sha256 } from "../bytes.ts";
import { GuestLoadError } from "../load_errors.ts";
import { REWRITER_FINGERPRINT } from "./rewriter_fingerprint.ts";
import type { InstrumentedModule, InstrumentOptions } from "../wasm/mod.ts";
import { instrumentModule } from "../wasm/instrument.ts";
import { LIMITS, type ModuleInfo } from "../wasm/module.ts";
import {
  copiedPayloads,
  joinInPlace,
  joinOutput,
  keyedBytes,
  type Payload,
  type Splice,
  splitOutput,
} from "./rewrite_splice.ts";
import { ownUrl } from "../caller_urls.ts";

/** The fields of {@linkcode RewriteSummary}, which an entry stores. */
const SUMMARY_FIELDS = [
  "footprint",
  "typeSignatures",
  "imports",
  "exports",
  "functionTypes",
  "hasStart",
] as const;

/** What a rewrite read about its input that loaders use after it. */
export type RewriteSummary = Pick<ModuleInfo, typeof SUMMARY_FIELDS[number]>;

/** A rewrite, fresh or from the cache. */
export interface CachedRewrite {
  /** The metered module. */
  metered: InstrumentedModule;
  /** What the rewriter read about the input. */
  info: RewriteSummary;
}

/**
 * The first bytes of every entry, with the format's number: 2 leaves the
 * copied payloads out (an entry of format 1 is rewritten).
 */
const MAGIC = new TextEncoder().encode("early-exit rewrite 2\n");
const DIGEST_BYTES = 32;
/**
 * Magic, the digest of all that follows it, the metadata's length (32-bit
 * little-endian) and the key; then the metadata (JSON, with the references
 * to the input's payloads) and the output without those payloads.
 */
const HEADER_BYTES = MAGIC.length + DIGEST_BYTES + 4 + DIGEST_BYTES;
const LENGTH_AT = MAGIC.length + DIGEST_BYTES;
const KEY_AT = LENGTH_AT + 4;
const ENTRY_SUFFIX = ".rewrite";

/**
 * A rewrite through `cache`: the stored entry for these bytes and options,
 * checked by `check` when given (an entry it throws for is rewritten and
 * replaced), or `rewrite`'s answer, stored. The rewriter gets a copy of
 * `options` as plain data, the very values the key was made of. With
 * `consumable`, `bytes` are the caller's to give away: a hit may build its
 * output in their buffer (see `joinInPlace`), after which they hold the
 * output's first bytes; on a miss they are the input still. Unless they are
 * `owned` (no code but this call's may change them), `bytes` are copied
 * first: the caller's code runs while the entry is read and its key is
 * digested, and a change it made then would store one module's rewrite
 * under another's key.
 */
export let rewriteThrough: (
  cache: RewriteCache,
  bytes: Uint8Array,
  options: InstrumentOptions,
  rewrite: Rewrite,
  check?: (metered: InstrumentedModule) => Promise<void>,
  consumable?: boolean,
  owned?: boolean,
) => Promise<CachedRewrite>;

/** How a cache miss is rewritten. */
type Rewrite = (
  bytes: Uint8Array,
  options: InstrumentOptions,
) => CachedRewrite | Promise<CachedRewrite>;

/**
 * An on-disk cache of rewritten modules: give it as `cache` to
 * {@linkcode FuelMeter.create} or `loadGuest`, and a process that meters the
 * same bytes with the same options again reads the rewrite from `directory`
 * rather than making it. A path or URL given as `cache` makes one of these;
 * make it yourself to share its counters, or to rewrite with
 * {@linkcode RewriteCache.instrument}.
 *
 * It needs read and write permission for the directory
 * (`--allow-read=DIR --allow-write=DIR`), which it creates when it writes
 * the first entry. An entry that is truncated or corrupted is rewritten
 * and replaced. Whoever can write the directory can change what the guest
 * runs, as whoever can write the guest's file can: keep it as private as
 * that file. Entries are never removed: delete the directory to empty it.
 *
 * @example Loading a guest twice, the second time from the cache
 * ```ts
 * import { FuelMeter, RewriteCache } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const directory = await Deno.makeTempDir();
 * const cache = new RewriteCache(directory);
 * const bytes = await Deno.readFile(new URL("../../guest/compute.wasm", import.meta.url));
 * const first = await FuelMeter.create(bytes, { cache });
 * const second = await FuelMeter.create(bytes, { cache });
 * assert.deepEqual(second.bytes, first.bytes);
 * assert.equal(cache.misses, 1);
 * assert.equal(cache.hits, 1);
 * await Deno.remove(directory, { recursive: true });
 * ```
 */
export class RewriteCache {
  /** The directory's path. */
  readonly directory: string;
  #hits = 0;
  #misses = 0;
  #rejected = 0;

  /**
   * Opens a cache in `directory` (created when the first entry is written).
   *
   * @param directory A path or a `file:` URL.
   * @throws {GuestLoadError} With reason `permission`, when read or write permission for the directory is missing.
   * @throws {TypeError} When `directory` is neither a path nor a `file:` URL.
   */
  constructor(directory: string | URL) {
    this.directory = directoryPath(directory);
    checkPermissions(this.directory);
  }

  /** Rewrites this process read from the cache. */
  get hits(): number {
    return this.#hits;
  }

  /** Rewrites this process made and stored, having found no usable entry. */
  get misses(): number {
    return this.#misses;
  }

  /**
   * Of the misses, those whose entry was there but not used: truncated,
   * corrupted, stored under another key's name, or (for `loadGuest`)
   * refused by the engine's compile. Each was rewritten and replaced.
   */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * `instrument()` through the cache: the same module, byte for byte, read
   * from the directory when this input was rewritten with these options
   * before.
   *
   * @example Rewriting through the cache
   * ```ts
   * import { RewriteCache } from "@early-exit/early-exit";
   * import { instrument } from "@early-exit/early-exit/instrument";
   * import assert from "node:assert/strict";
   *
   * const directory = await Deno.makeTempDir();
   * const cache = new RewriteCache(directory);
   * const bytes = await Deno.readFile(new URL("../../guest/compute.wasm", import.meta.url));
   * await cache.instrument(bytes, { resumable: false });
   * const cached = await cache.instrument(bytes, { resumable: false });
   * assert.equal(cache.hits, 1);
   * assert.deepEqual(cached, instrument(bytes, { resumable: false }));
   * await Deno.remove(directory, { recursive: true });
   * ```
   *
   * @param bytes The guest module.
   * @param options As for `instrument()`.
   * @returns The metered module and the names of what was added.
   * @throws {InvalidModule} As `instrument()` does.
   * @throws {GuestLoadError} With reason `io`, when the entry cannot be written.
   */
  async instrument(
    bytes: Uint8Array,
    options: InstrumentOptions = {},
  ): Promise<InstrumentedModule> {
    return (await this.#rewrite(bytes, options, instrumentModule)).metered;
  }

  async #rewrite(
    bytes: Uint8Array,
    options: InstrumentOptions,
    rewrite: Rewrite,
    check?: (metered: InstrumentedModule) => Promise<void>,
    consumable = false,
    owned = consumable,
  ): Promise<CachedRewrite> {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot instrument the module: expected a Uint8Array, got ${typeof bytes}`,
      );
    }
    // The key, the entry's payloads and the rewrite all read these bytes,
    // with the event loop's turns in between.
    if (!owned) bytes = bytes.slice();
    const [text, snapshot] = canonical(options, "options");
    const { key, payloads, kept } = await entryKey(bytes, text);
    const name = hex(key);
    const path = `${this.directory}/${name}${ENTRY_SUFFIX}`;
    const stored = await readEntry(path, key);
    let rejected = stored === "bad";
    if (typeof stored === "object") {
      const inPlace = consumable
        ? joinInPlace(bytes, payloads, kept, stored.stored, stored.splices)
        : undefined;
      const output = inPlace?.output ??
        joinOutput(bytes, payloads, stored.stored, stored.splices);
      if (output === undefined) {
        rejected = true;
      } else {
        const hit = {
          metered: { ...stored.rewrite.metered, bytes: output },
          info: stored.rewrite.info,
        };
        try {
          await check?.(hit.metered);
          this.#hits++;
          return hit;
        } catch {
          rejected = true;
          inPlace?.restore();
        }
      }
    }
    const fresh = await rewrite(bytes, snapshot as InstrumentOptions);
    await writeEntry(this.directory, name, key, fresh, bytes, payloads);
    this.#misses++;
    if (rejected) this.#rejected++;
    return fresh;
  }

  static {
    rewriteThrough = (
      cache,
      bytes,
      options,
      rewrite,
      check,
      consumable,
      owned,
    ) => cache.#rewrite(bytes, options, rewrite, check, consumable, owned);
  }
}

/**
 * What a `cache` option takes: a directory's path or `file:` URL, or a
 * {@linkcode RewriteCache} (to share its counters).
 *
 * @example Usage
 * ```ts
 * import type { CacheOption, GuestOptions } from "@early-exit/early-exit";
 *
 * const cache: CacheOption = new URL("file:///var/cache/my-app/rewrites/");
 * const options: GuestOptions = { fuel: 1_000_000, cache };
 * console.log(options.cache);
 * ```
 */
export type CacheOption = string | URL | RewriteCache;

/**
 * The cache a `cache` option names.
 *
 * @param option A directory's path or URL, or a {@linkcode RewriteCache}.
 * @param who The API, for messages.
 * @returns The cache.
 */
export function openCache(option: CacheOption, who: string): RewriteCache {
  const expected = "a directory's path or file: URL, or a RewriteCache";
  // A URL is read here, where what its reading throws names the option.
  const given: unknown = readOption(
    `${who}: cache`,
    expected,
    () => option instanceof URL ? ownUrl(option) : option,
  );
  if (given instanceof RewriteCache) return given;
  if (typeof given !== "string" && !(given instanceof URL)) {
    throw new TypeError(
      `${who}: cache must be ${expected}; got ${
        option === null ? "null" : typeof option
      }`,
    );
  }
  return new RewriteCache(given);
}

function directoryPath(directory: string | URL): string {
  if (directory instanceof URL) {
    if (directory.protocol !== "file:") {
      throw new TypeError(
        `RewriteCache: the cache is a local directory; got a ${directory.protocol} URL`,
      );
    }
    const path = decodeURIComponent(directory.pathname);
    // file:///C:/dir names C:/dir on Windows.
    const local = /^\/[A-Za-z]:/.test(path) && Deno.build.os === "windows"
      ? path.slice(1)
      : path;
    return local.replace(/\/+$/, "") || "/";
  }
  if (typeof directory !== "string" || directory === "") {
    throw new TypeError(
      `RewriteCache: expected a directory's path or file: URL; got ${
        directory === "" ? "an empty string" : typeof directory
      }`,
    );
  }
  return directory.length > 1 ? directory.replace(/[\\/]+$/, "") : directory;
}

/** Refuses a directory this process may not both read and write. */
function checkPermissions(directory: string): void {
  const missing = (["read", "write"] as const).filter((name) =>
    Deno.permissions.querySync({ name, path: directory }).state !== "granted"
  );
  if (missing.length === 0) return;
  throw new GuestLoadError(
    "permission",
    `cannot use the rewrite cache in ${directory}: ${
      missing.join(" and ")
    } permission ${missing.length > 1 ? "are" : "is"} missing`,
    `run again with --allow-read=${directory} --allow-write=${directory} (or leave out cache)`,
  );
}

/**
 * `value` as text that tells apart everything the rewriter tells apart
 * (`-0`, `NaN`, bigints, `undefined` in a list), and a copy of it as plain
 * data. Only plain objects and arrays are read, each property once, so a
 * getter cannot show the key one value and the rewriter another.
 */
function canonical(value: unknown, where: string): [string, unknown] {
  switch (typeof value) {
    case "undefined":
      return ["u", undefined];
    case "boolean":
      return [value ? "t" : "f", value];
    case "number":
      return [`d${Object.is(value, -0) ? "-0" : String(value)}`, value];
    case "bigint":
      return [`b${value}`, value];
    case "string":
      return [`s${JSON.stringify(value)}`, value];
  }
  if (value === null) return ["n", null];
  if (Array.isArray(value)) {
    const texts: string[] = [];
    const copy: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      const [text, item] = canonical(value[i], `${where}[${i}]`);
      texts.push(text);
      copy.push(item);
    }
    return [`[${texts.join(",")}]`, copy];
  }
  const prototype = typeof value === "object"
    ? Object.getPrototypeOf(value)
    : undefined;
  if (prototype !== Object.prototype && prototype !== null) {
    throw new TypeError(
      `the rewrite cache keys on plain data: ${where} is ${
        typeof value === "object" ? "an object of a class" : `a ${typeof value}`
      }; pass plain objects, arrays, numbers, strings and booleans`,
    );
  }
  const texts: string[] = [];
  const copy: Record<string, unknown> = {};
  for (const name of Object.keys(value as object).sort()) {
    const [text, item] = canonical(
      (value as Record<string, unknown>)[name],
      `${where}.${name}`,
    );
    if (item === undefined) continue;
    texts.push(`${JSON.stringify(name)}:${text}`);
    copy[name] = item;
  }
  return [`{${texts.join(",")}}`, copy];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** JSON with bigints kept: `{ "$bigint": "123" }`. */
function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_, item) =>
      typeof item === "bigint"
        ? { $bigint: item.toString() }
        : ArrayBuffer.isView(item)
        ? Array.from(item as Uint32Array)
        : item,
  );
}

/**
 * Turns `{ "$bigint": "123" }` back into `123n`, in place. Only the
 * metered module's names hold bigints (its initial fuel, 64-bit memory
 * sizes); walking the rest too would cost more than the rest of a hit.
 */
function withBigints(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  if (typeof record.$bigint === "string" && Object.keys(record).length === 1) {
    return BigInt(record.$bigint);
  }
  for (const name of Object.keys(record)) {
    record[name] = withBigints(record[name]);
  }
  return value;
}

/**
 * An entry's key, and the input's payloads that it leaves out.
 *
 * @param bytes The input module.
 * @param options The options, as `canonical` writes them.
 * @returns The key (SHA-256), the payloads, and the input's other bytes.
 */
export async function entryKey(
  bytes: Uint8Array,
  options: string,
): Promise<{ key: Uint8Array; payloads: Payload[]; kept: Uint8Array }> {
  const payloads = copiedPayloads(bytes);
  const { material, kept } = keyedBytes(
    bytes,
    payloads,
    (places) =>
      new TextEncoder().encode(
        `early-exit rewrite key 2\0${REWRITER_FINGERPRINT}\0${options}\0${places}\0`,
      ),
  );
  const key = await sha256(material);
  return { key, payloads, kept };
}

/** What an entry holds: the rewrite but for its output, which is split. */
export interface StoredEntry {
  /** The rewrite, its output empty. */
  rewrite: CachedRewrite;
  /** The output but for the input's payloads. */
  stored: Uint8Array;
  /** Where the payloads go back. */
  splices: Splice[];
}

/**
 * Reads an entry: what it holds, `"absent"` when there is none, or `"bad"`
 * when it is there but not to be used.
 *
 * @param path The entry's file.
 * @param key Its key.
 * @returns The entry, checked against its digest and key.
 */
export async function readEntry(
  path: string,
  key: Uint8Array,
): Promise<StoredEntry | "absent" | "bad"> {
  let file: Uint8Array | "bad";
  try {
    file = await readEntryFile(path, key);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "absent";
    if (error instanceof Deno.errors.NotCapable) {
      throw new GuestLoadError(
        "permission",
        `cannot read the rewrite cache entry ${path}: read permission is missing`,
        `run again with --allow-read=${path} (or leave out cache)`,
        { cause: error },
      );
    }
    return "bad";
  }
  if (file === "bad") return "bad";
  const digest = await sha256(file.subarray(LENGTH_AT));
  if (!sameBytes(file.subarray(MAGIC.length, LENGTH_AT), digest)) return "bad";
  const metaLength = new DataView(file.buffer, file.byteOffset).getUint32(
    LENGTH_AT,
    true,
  );
  if (metaLength > file.length - HEADER_BYTES) return "bad";
  const meta = file.subarray(HEADER_BYTES, HEADER_BYTES + metaLength);
  try {
    return parseMeta(
      new TextDecoder().decode(meta),
      file.subarray(HEADER_BYTES + metaLength),
    );
  } catch {
    return "bad";
  }
}

/**
 * The most bytes an entry file may hold: a rewrite's output is at most the
 * engine's 1 GiB, and its metadata is allowed as much again. A larger file
 * is no entry this rewriter wrote, and is not read: a sparse file of
 * gigabytes costs nothing to make, and reading a 3 GiB one held a load 21
 * s and 6 GiB of memory before its digest could refuse it.
 */
const MAX_ENTRY_BYTES = 2 * LIMITS.moduleSize;

/**
 * An entry's file, or `"bad"` when it is not one to use: not a regular
 * file (a named pipe would hold the open until a writer came), past
 * {@linkcode MAX_ENTRY_BYTES}, or with a header that is not this format's
 * with this key, which is read first, so that a large file in the entry's
 * place is refused having read that much of it. Throws what the system
 * throws (`NotFound`, `NotCapable`).
 */
async function readEntryFile(
  path: string,
  key: Uint8Array,
): Promise<Uint8Array | "bad"> {
  const { isFile, size } = await Deno.lstat(path);
  if (!isFile || size < HEADER_BYTES || size > MAX_ENTRY_BYTES) return "bad";
  using file = await Deno.open(path, { read: true });
  // One byte more than the file had, to see that it did not grow since.
  const bytes = new Uint8Array(size + 1);
  const fill = async (end: number): Promise<number> => {
    let at = 0;
    while (at < end) {
      const read = await file.read(bytes.subarray(at, end));
      if (read === null) break;
      at += read;
    }
    return at;
  };
  if (
    await fill(HEADER_BYTES) < HEADER_BYTES ||
    !sameBytes(bytes.subarray(0, MAGIC.length), MAGIC) ||
    !sameBytes(bytes.subarray(KEY_AT, HEADER_BYTES), key)
  ) return "bad";
  let at = HEADER_BYTES;
  while (at < bytes.length) {
    const read = await file.read(bytes.subarray(at));
    if (read === null) break;
    at += read;
  }
  // Shorter or longer than it was when looked at: another process is
  // changing it.
  return at === size ? bytes.subarray(0, size) : "bad";
}

/** The entry's metadata, checked for the shape `writeEntry` gives it. */
function parseMeta(text: string, stored: Uint8Array): StoredEntry {
  const { metered, info, splices } = JSON.parse(text) as {
    metered: Omit<InstrumentedModule, "bytes">;
    info: RewriteSummary & { functionTypes: number[] };
    splices: Splice[];
  };
  const names = [metered.importModule, metered.importName, metered.fuelExport];
  if (
    names.some((name) => typeof name !== "string") ||
    typeof (metered.initialFuel as unknown as { $bigint?: unknown })
        ?.$bigint !== "string" ||
    typeof metered.resumable !== "boolean" ||
    typeof metered.fuel !== "boolean" ||
    typeof info.footprint !== "object" ||
    !Array.isArray(info.typeSignatures) || !Array.isArray(info.imports) ||
    !Array.isArray(info.exports) || !Array.isArray(info.functionTypes) ||
    typeof info.hasStart !== "boolean" || !Array.isArray(splices)
  ) {
    throw new TypeError("not an entry's metadata");
  }
  const rewrite = {
    metered: {
      ...withBigints(metered) as typeof metered,
      bytes: new Uint8Array(0),
    },
    info: {
      ...info,
      // JSON keeps a missing signature (a type that is not a function's) as null.
      typeSignatures: info.typeSignatures.map((type) => type ?? undefined),
      functionTypes: Uint32Array.from(info.functionTypes),
    },
  };
  return { rewrite, stored, splices };
}

/**
 * Stores a rewrite of `input`, without the payloads of it that the output
 * holds unchanged: a temporary file in the directory, renamed over the
 * entry.
 */
async function writeEntry(
  directory: string,
  name: string,
  key: Uint8Array,
  rewrite: CachedRewrite,
  input: Uint8Array,
  payloads: readonly Payload[],
): Promise<void> {
  const { bytes, ...names } = rewrite.metered;
  const { stored, splices } = splitOutput(input, payloads, bytes);
  // Only the summary's fields, whatever else the rewrite's info holds.
  const info = Object.fromEntries(
    SUMMARY_FIELDS.map((field) => [field, rewrite.info[field]]),
  );
  const meta = new TextEncoder().encode(
    toJson({ metered: names, info, splices }),
  );
  const file = concatBytes(new Uint8Array(HEADER_BYTES), meta, stored);
  file.set(MAGIC);
  new DataView(file.buffer).setUint32(LENGTH_AT, meta.length, true);
  file.set(key, KEY_AT);
  file.set(await sha256(file.subarray(LENGTH_AT)), MAGIC.length);
  const path = `${directory}/${name}${ENTRY_SUFFIX}`;
  const temporary = `${directory}/${name}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.mkdir(directory, { recursive: true });
    await Deno.writeFile(temporary, file, {
      createNew: true,
    });
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw writeError(directory, error);
  }
  try {
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    // Where a rename cannot replace a file another process holds open,
    // that process's entry stands: it is checked when read.
    const standing = await Deno.stat(path).then((s) => s.isFile, () => false);
    if (!standing) throw writeError(directory, error);
  }
}

function writeError(directory: string, error: unknown): GuestLoadError {
  if (error instanceof Deno.errors.NotCapable) {
    return new GuestLoadError(
      "permission",
      `cannot write to the rewrite cache in ${directory}: write permission is missing`,
      `run again with --allow-read=${directory} --allow-write=${directory} (or leave out cache)`,
      { cause: error },
    );
  }
  return new GuestLoadError(
    "io",
    `cannot write to the rewrite cache in ${directory}: ${
      (error as Error).message
    }`,
    "check that it is a directory this process can write, or leave out cache",
    { cause: error },
  );
}
