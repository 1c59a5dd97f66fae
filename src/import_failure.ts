/**
 * Why a dynamic `import()` of a user's module failed, as one line: the
 * command line's `--imports` and isolation's imports module both say it.
 * Deno's message has several lines (a syntax error's excerpt of the source,
 * the place, terminal colours) and a module's own throw may too.
 *
 * @module
 */

import { describeThrown, oneLine } from "./thrown_values.ts";

/** What went wrong, for the caller's advice on how to fix it. */
export type ImportFailureKind =
  /** The module is JSON, which cannot hold host functions. */
  | "json"
  /** The module itself is not there. */
  | "missing"
  /** A module it imports is not there. */
  | "dependency"
  /** Anything else: it threw, does not parse, is not allowed. */
  | "threw";

/** {@linkcode importFailure}'s answer. */
export interface ImportFailure {
  /** What went wrong. */
  kind: ImportFailureKind;
  /** Every line of the message as one, with the place in the user's code. */
  why: string;
}

// Deno colours the places in its messages for a terminal.
// deno-lint-ignore no-control-regex
const COLOURS = /\u001b\[[0-9;]*m/g;
// A syntax error's excerpt of the source: "  |", "1 | export …", "  |   ~".
const SOURCE_EXCERPT = /^\s*\d*\s*\|/;
const PLACE = /^\s*at\s+(.*?)\)?$/;

/** This project's own code, which a failed `import()` has in its stack. */
const OWN_CODE = [
  new URL("./", import.meta.url).href,
  new URL("../main.ts:", import.meta.url).href,
];

/**
 * Why `import(href)` threw `error`: every line of the message, the place in
 * the user's code it names (Deno's own code is not theirs to read), and the
 * kind of failure.
 *
 * @param error What `import()` rejected with.
 * @param href The URL that was imported.
 * @returns The kind of failure and one line saying why.
 */
export function importFailure(error: unknown, href: string): ImportFailure {
  if (!(error instanceof Error)) {
    return { kind: "threw", why: `it threw ${describeThrown(error)}` };
  }
  let message, name, stack;
  try {
    message = String(error.message);
    name = String(error.name);
    stack = String(error.stack ?? "");
  } catch {
    return { kind: "threw", why: describeThrown(error) };
  }
  const lines: string[] = [];
  const places: string[] = [];
  for (const line of message.replace(COLOURS, "").split("\n")) {
    const place = PLACE.exec(line)?.[1];
    if (place !== undefined) {
      if (!/^(ext|node):/.test(place)) places.push(place);
    } else if (!SOURCE_EXCERPT.test(line) && line.trim() !== "") {
      lines.push(line.trim());
    }
  }
  // A throw while the module ran has the module's line in its stack, and
  // says what it threw; Deno's errors in loading it have only ours.
  const ran = places.length === 0 ? userPlace(stack) : undefined;
  if (ran !== undefined) {
    places.push(ran);
    lines.unshift(`${name}:`);
  }
  let why = oneLine(lines.join(" ")).replace(/\.$/, "");
  if (places.length > 0) why += ` (at ${places[0]})`;
  if (ran === undefined && /JSON module/i.test(why)) {
    return { kind: "json", why: "it is JSON, which holds no functions" };
  }
  const missing = ran === undefined
    ? /Module not found "([^"]+)"/.exec(why)?.[1]
    : undefined;
  if (missing === undefined) return { kind: "threw", why };
  return { kind: missing === href ? "missing" : "dependency", why };
}

/**
 * The place in a module of the stack's first frame outside Deno's own code,
 * unless that frame is this project's (Deno failed to load the module).
 */
function userPlace(stack: string): string | undefined {
  for (const line of stack.replace(COLOURS, "").split("\n")) {
    const place = PLACE.exec(line)?.[1]?.replace(/^.*\(/, "");
    if (place === undefined || !/^(file|https?):/.test(place)) continue;
    return OWN_CODE.some((own) => place.startsWith(own)) ? undefined : place;
  }
  return undefined;
}
