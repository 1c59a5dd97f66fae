/**
 * A caller's `stop`, as the host keeps it for a call, a load, a meter's run
 * or a WASI run: a `StopSignal` of its own over the caller's buffer, read
 * once when the option was checked. The caller's object may be a signal of
 * another copy of early-exit, any object with a `buffer` and a `stopped`, or
 * a signal with properties of its own over the real ones; read through it, a
 * `stopped` or `reason` getter that threw when the stop came rejected a call
 * with the getter's unbranded error, or ended the process from the abort's
 * listener, and a `buffer` getter could give the check one buffer and the
 * watch another. The flag is read from the buffer, as every StopSignal
 * reads it; only the reason, given on the caller's thread when it stopped
 * the signal, is asked of the caller's object, and a throw there gives the
 * default reason.
 *
 * @module
 */

import { checkStopValue } from "../option_checks.ts";
import { readSafely } from "../thrown_values.ts";
import { StopSignal } from "./stop_signal.ts";

/** `StopSignal`'s own `reason` getter: it reads only a real signal. */
const REASON = Object.getOwnPropertyDescriptor(
  StopSignal.prototype,
  "reason",
)!.get!;

/** The host's StopSignal over a caller's buffer. */
class CallerStopSignal extends StopSignal {
  readonly #given: object;

  constructor(given: object, buffer: SharedArrayBuffer) {
    super(buffer);
    this.#given = given;
  }

  /** Whether `value` is one of these: it is kept as it is. */
  static isOne(value: object): boolean {
    return #given in value;
  }

  /** The reason the caller gave when it stopped its signal. */
  override get reason(): string {
    const given = this.#given;
    try {
      // A signal of this copy: its reason, whatever its own properties say.
      return REASON.call(given);
    } catch {
      const reason = readSafely(given, "reason");
      return typeof reason === "string" ? reason : super.reason;
    }
  }
}

/**
 * Checks a `stop` option and gives the host's signal for it.
 *
 * @param value The option as read from the caller's options.
 * @param what Where it was given, e.g. `invoke's stop`.
 * @returns The host's StopSignal over the caller's buffer, or `undefined`
 *   when left out.
 * @throws {TypeError} When it is not a StopSignal.
 */
export function readStopOption(
  value: unknown,
  what: string,
): StopSignal | undefined {
  if (
    typeof value === "object" && value !== null &&
    CallerStopSignal.isOne(value)
  ) return value as StopSignal;
  const buffer = checkStopValue(value, what);
  return buffer === undefined
    ? undefined
    : new CallerStopSignal(value as object, buffer);
}

/**
 * Options read once (see `readOptions`), with the host's signal for their
 * `stop`: what the call keeps and watches.
 *
 * @param options The options read.
 * @param where The function they were given to, e.g. `invoke`.
 * @returns `options`, or a copy with the host's signal as `stop`.
 * @throws {TypeError} When `stop` is not a StopSignal.
 */
export function withHostStop<T extends { stop?: unknown }>(
  options: T,
  where: string,
): T {
  if (options.stop === undefined) return options;
  return { ...options, stop: readStopOption(options.stop, `${where}'s stop`) };
}
