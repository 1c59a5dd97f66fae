/**
 * Looks at whatever host code threw or gave as a reason, however hostile:
 * a `Proxy` whose traps throw, a revoked one, an error whose `message`
 * getter throws. Each look here gives an answer rather than throwing, so
 * that a call still ends in its outcome, with a message of one line.
 *
 * @module
 */

/** The longest description of a thrown value a message carries. */
const MAX_DESCRIPTION = 300;

/**
 * How much of a long text {@linkcode oneLine} folds: enough for
 * {@linkcode MAX_DESCRIPTION} characters unless its head is mostly blank.
 */
const FOLDED_HEAD = 4 * MAX_DESCRIPTION;

/** A line break, which {@linkcode oneLine} folds. */
const BREAKS = /[\r\n\u2028\u2029]/;

/**
 * `value instanceof type`, or `false` when asking throws (a proxy whose
 * `getPrototypeOf` trap throws, a revoked proxy).
 *
 * @param value Anything.
 * @param type A class.
 * @returns Whether `value` is an instance of `type`.
 */
export function isInstance(
  value: unknown,
  // deno-lint-ignore no-explicit-any
  type: abstract new (...args: any[]) => unknown,
): boolean {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

/**
 * `object[key]`, or `undefined` when reading it throws.
 *
 * @param object Anything.
 * @param key The property.
 * @returns Its value.
 */
export function readSafely(object: unknown, key: PropertyKey): unknown {
  if (
    (typeof object !== "object" && typeof object !== "function") ||
    object === null
  ) {
    return undefined;
  }
  try {
    return (object as Record<PropertyKey, unknown>)[key];
  } catch {
    return undefined;
  }
}

/**
 * What `value` is, in one line for a message: an error's name and message,
 * or the value as a string, with line breaks folded into spaces and cut to
 * a few hundred characters (the value itself is kept as the error's
 * `cause`).
 *
 * @param value Anything thrown, or given as a reason.
 * @returns One line.
 */
export function describeThrown(value: unknown): string {
  let text: string;
  try {
    text = value instanceof Error
      ? `${String(value.name)}: ${String(value.message)}`
      : String(value);
  } catch {
    try {
      text = Object.prototype.toString.call(value);
    } catch {
      const kind = typeof value === "object" ? "an object" : typeof value;
      text = `${kind} that cannot be shown as text`;
    }
  }
  return oneLine(text);
}

/**
 * `text` with each run of line breaks (and the spaces around it) folded into
 * one space, cut to {@linkcode MAX_DESCRIPTION} characters; a cut one says
 * how long the whole text was.
 *
 * @param text Any text.
 * @returns One line.
 */
export function oneLine(text: string): string {
  if (text.length <= MAX_DESCRIPTION && !BREAKS.test(text)) return text;
  // Only the head is folded: the whole of a message of megabytes of short
  // lines (a guest's text, that a host import put in its error) took the
  // thread seconds to fold, 18 s for 16 MB, past any deadline.
  const head = text.length > FOLDED_HEAD ? text.slice(0, FOLDED_HEAD) : text;
  const line = head.replace(/\s*[\r\n\u2028\u2029]+\s*/g, " ");
  if (head === text && line.length <= MAX_DESCRIPTION) return line;
  let cut = Math.min(MAX_DESCRIPTION, line.length);
  // Never end on half of a surrogate pair.
  const last = line.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${line.slice(0, cut)}… (${text.length} characters)`;
}

/**
 * The `then` method of a value that is a thenable but no native promise
 * (some libraries make their own), or `undefined`. The engine waits for one
 * as for a promise when an async guest's import returns it; a look that
 * throws (a getter, a proxy's trap) finds none.
 *
 * @param value Anything a hook or import returned.
 * @returns Its `then`, when it is a thenable but no `Promise`.
 */
export function thenOf(
  value: unknown,
): ((...args: unknown[]) => unknown) | undefined {
  if (
    (typeof value !== "object" && typeof value !== "function") ||
    value === null || isInstance(value, Promise)
  ) {
    return undefined;
  }
  const then = readSafely(value, "then");
  return typeof then === "function"
    ? then as (...args: unknown[]) => unknown
    : undefined;
}

/**
 * Whether a hook that cannot be waited for returned a promise or a thenable;
 * a promise's rejection is then handled here, since nobody will wait for it
 * and an unhandled one would end the process.
 *
 * @param value What the hook returned.
 * @returns Whether it is a promise or a thenable.
 */
export function settledUnwaited(value: unknown): boolean {
  if (isInstance(value, Promise)) {
    try {
      Promise.prototype.then.call(value, undefined, () => {});
    } catch {
      // A proxy of a promise: nothing can be attached to it.
    }
    return true;
  }
  return thenOf(value) !== undefined;
}
