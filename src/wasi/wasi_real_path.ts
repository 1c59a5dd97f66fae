/**
 * A path's real path, resolved here part by part as the system's
 * `realpath` resolves it, so that the guest can be charged for the targets
 * of the links it leads through: the system's call reads them all in one
 * go, where nothing sees them, and a path whose directories are 39 links
 * of 4,000 bytes each was resolved for the few bytes of the path.
 *
 * The walk starts from the real path of the guest's preopen, whose own
 * links are the host's (and not paid for), and follows each link it meets
 * (at most {@linkcode MAX_LINKS}, as `realpath` does), reading its target
 * and walking it in turn: `..` goes up from the real directory reached, an
 * absolute target starts again at `/`. Its answer is the system's: where
 * the walk cannot tell what the system would say (a part it may not read
 * without asking, a file system error other than a missing part), it asks
 * the system, which then resolves the path on its own; a part that does
 * not exist, or a file with more of the path after it, or more than
 * {@linkcode MAX_LINKS} links, fails as the system's call would (with an
 * error that is not `NotCapable`), and a path Deno's permissions keep from
 * being read is the system's call's to refuse. On Windows the system
 * resolves every path.
 *
 * @module
 */

import { resolve, sep } from "node:path";

/** How many links one resolution follows, as glibc's `realpath`. */
export const MAX_LINKS = 40;

/** What the walk found at a path: a link and its target, or another file. */
export type Found = { link: string } | { directory: boolean };

/** The character codes of `/` and `.`. */
const SLASH = 0x2f;
const DOT = 0x2e;

/** A part of the walk left to take: a path, and how far it is walked. */
interface Pending {
  text: string;
  at: number;
}

/** The walk cannot go on where the system's call would fail too. */
class WalkFailed extends Error {}

/** Whether `path` is `root` or under it (both real, absolute paths). */
function under(root: string, path: string): boolean {
  return path === root ||
    path.startsWith(root.endsWith("/") ? root : `${root}/`);
}

/**
 * The real path of `path`, as `Deno.realPathSync` gives it, with each link
 * target it reads paid for.
 *
 * @param path The path to resolve.
 * @param starts Paths that resolve to `realRoot` (the preopen, as written
 *   and as real): a path under one is walked from `realRoot`.
 * @param realRoot The preopen's real path.
 * @param paid Told the length of each link target the walk follows.
 * @param found What the walk found at each path, kept between the walks
 *   of one look at a guest's path.
 * @returns The real path.
 * @throws What `Deno.realPathSync` throws: `NotCapable` where it would,
 *   another error where the path does not resolve.
 */
export function realPathPaid(
  path: string,
  starts: readonly string[],
  realRoot: string,
  paid: (bytes: number) => void,
  found: Map<string, Found> = new Map(),
): string {
  if (sep !== "/") return Deno.realPathSync(path);
  try {
    // The system's call asks Deno's permissions about the path as given.
    if (!readable(path)) return Deno.realPathSync(path);
    // Deno takes `..` by the path's text before the system sees it,
    // unless every permission was granted.
    if (takesDotsAsText(realRoot)) {
      path = resolve(path);
      starts = [...starts, ...starts.map((start) => resolve(start))];
    }
    const start = starts.find((start) =>
      path === start ||
      (path.startsWith(start) &&
        (start.endsWith("/") || path[start.length] === "/"))
    );
    if (start === undefined && !path.startsWith("/")) {
      return Deno.realPathSync(path);
    }
    return walk(
      start === undefined ? "/" : realRoot,
      start === undefined ? path : path.slice(start.length),
      realRoot,
      paid,
      found,
    );
  } catch (error) {
    if (error instanceof WalkFailed) throw error;
    // Something the walk cannot judge: the system's answer.
    return Deno.realPathSync(path);
  }
}

/**
 * Walks `rest` from the real directory `from`, part by part.
 *
 * @throws {WalkFailed} Where `realpath` fails too; anything else where
 *   the walk cannot tell.
 */
function walk(
  from: string,
  rest: string,
  realRoot: string,
  paid: (bytes: number) => void,
  found: Map<string, Found>,
): string {
  let resolved = from;
  const pending: Pending[] = [{ text: rest, at: 0 }];
  let links = 0;
  for (;;) {
    const top = pending[pending.length - 1];
    if (top === undefined) return resolved;
    const { text } = top;
    const length = text.length;
    // The next part, past separators and `.` parts, read a character at a
    // time without a string made for them: a target can hold 2,000.
    let at = top.at;
    for (;;) {
      const char = text.charCodeAt(at);
      if (char === SLASH) {
        at++;
      } else if (
        char === DOT && (at + 1 === length || text.charCodeAt(at + 1) === SLASH)
      ) {
        at += 2;
      } else {
        break;
      }
    }
    if (at >= length) {
      pending.pop();
      continue;
    }
    let end = at + 1;
    while (end < length && text.charCodeAt(end) !== SLASH) end++;
    top.at = end;
    if (end === at + 2 && text.charCodeAt(at) === DOT) {
      if (text.charCodeAt(at + 1) === DOT) {
        resolved = resolved.slice(0, resolved.lastIndexOf("/")) || "/";
        continue;
      }
    }
    const part = text.slice(at, end);
    const next = resolved === "/" ? `/${part}` : `${resolved}/${part}`;
    const what = look(next, realRoot, found);
    if ("link" in what) {
      if (++links > MAX_LINKS) throw new WalkFailed("too many links");
      paid(what.link.length);
      if (what.link.startsWith("/")) resolved = "/";
      pending.push({ text: what.link, at: 0 });
      continue;
    }
    // A file with more of the path after it, even a `/` alone: ENOTDIR.
    if (!what.directory && pending.some((p) => p.at < p.text.length)) {
      throw new WalkFailed("not a directory");
    }
    resolved = next;
  }
}

/** What is at `path`, from `found` or the file system. */
function look(path: string, realRoot: string, found: Map<string, Found>) {
  const known = found.get(path);
  if (known !== undefined) return known;
  // Outside the preopen, a part Deno's permissions would ask about (or
  // refuse) is left to the system's call.
  if (!under(realRoot, path) && !readable(path)) {
    throw new Error("not readable without asking");
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.NotADirectory
    ) {
      throw new WalkFailed("no such file");
    }
    throw error;
  }
  const what: Found = info.isSymlink
    ? { link: Deno.readLinkSync(path) }
    : { directory: info.isDirectory };
  found.set(path, what);
  return what;
}

/** Whether Deno takes a path's `..` by its text, as found out once. */
let dotsAsText: boolean | undefined;

/**
 * Whether Deno resolves a path's `.` and `..` by its text before its file
 * system calls see it, which it does unless every permission was granted
 * (`-A`): then `a/../f`, where `a` is a link, names `f`, not the file
 * beside the link's target. Found out once, from `directory`'s real path
 * and a part too long to exist: resolved by the text, `too-long/..` is the
 * directory; by the system, an error.
 */
function takesDotsAsText(directory: string): boolean {
  if (dotsAsText === undefined) {
    try {
      Deno.realPathSync(`${directory}/${"x".repeat(300)}/..`);
      dotsAsText = true;
    } catch {
      dotsAsText = false;
    }
  }
  return dotsAsText;
}

/**
 * Whether this process may read `path` without a prompt (false for a path
 * Deno cannot ask about, such as one with a NUL).
 */
export function readable(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path }).state ===
      "granted";
  } catch {
    return false;
  }
}
