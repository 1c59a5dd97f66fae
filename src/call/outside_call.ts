/**
 * A guest's code refuses to run while no call of that guest is in progress.
 *
 * A function of a guest that reaches anything else (through a table the
 * host made that another guest imports too, a funcref global, a reference
 * a host import hands another guest, or one the host calls itself) is the
 * engine's own function: its checks read its own guest's stop flag and
 * fuel, so the caller's deadline, signal, stop and fuel never reach it (a
 * 200 ms deadline on a guest that called another's `loop br 0` through a
 * shared table had not landed 20 s later). So while none of its calls is
 * in progress (from the moment its flag is made, before instantiation
 * writes its functions into the host's tables), a guest with a stop flag
 * holds it at {@linkcode IDLE}: the
 * first check its code meets (every function a reference can reach that
 * loops or calls has one at its entry, and every loop header has one) takes
 * the slow path, which traps at once, or, where it asks the host, is told
 * to. The first call clears the flag, and the end of the last one sets it
 * again, so the checks cost nothing more. Such a trap is then told apart
 * from a guest's own `unreachable` by the instance of the frame that
 * trapped, which V8 gives a stack trace's `prepareStackTrace`.
 *
 * @module
 */

import type { CallState } from "./call_state.ts";
import { GuestTrap } from "../stop_errors.ts";
import { oneLineText } from "../early_exit_error.ts";

/**
 * The flag while no call of its guest is in progress. Any value but 0
 * stops the guest's code; this one is not the watchdog's 1, so that a
 * reader can tell them apart.
 */
export const IDLE = 2;

/** A guest whose instances are noted: its name and its call state. */
interface Owner {
  label: string;
  state: CallState;
}

const owners = new WeakMap<object, Owner>();

/**
 * Notes a guest's instance, so that a trap at one of its checks outside
 * any call of it is named as such.
 *
 * @param instance The instance.
 * @param label The guest's name in messages.
 * @param state The guest's call state, which says whether it is in a call.
 */
export function noteInstance(
  instance: WebAssembly.Instance,
  label: string,
  state: CallState,
): void {
  owners.set(instance, { label, state });
}

/**
 * Whether no call of a guest is in progress: also before the guest is
 * made, while its load instantiates it and waits after that.
 *
 * @param state The guest's call state.
 * @returns True when its code must not run.
 */
export function outsideCalls(state: CallState): boolean {
  return state.calling?.() !== true;
}

/**
 * Holds a guest's flag at {@linkcode IDLE}, as its last call ends.
 *
 * @param flag The guest's stop flag.
 */
export function markIdle(flag: Int32Array): void {
  // A plain store: every watch of the call has been disarmed, and a late
  // setting by the watchdog (1) stops the guest's code as well. The guest
  // reads the flag on this thread, after it. (An atomic store cost a call
  // about 10 ns more, on 2 busy cores.)
  flag[0] = IDLE;
}

/** The instance of each error's top frame, read once (`null`: none). */
const topInstances = new WeakMap<object, object | null>();

type CallSite = { getThis(): unknown };
type Prepare = (error: Error, sites: CallSite[]) => unknown;

/**
 * The instance whose code threw `error`, read from its stack trace's top
 * frame: V8 hands `Error.prepareStackTrace` the frames as the error was
 * made, once, as its `stack` is first read. The `stack` it leaves is the
 * one the host would have seen.
 */
function topInstance(error: object): object | null {
  const known = topInstances.get(error);
  if (known !== undefined) return known;
  const errorClass = Error as unknown as { prepareStackTrace?: Prepare };
  const previous = errorClass.prepareStackTrace;
  let top: object | null = null;
  errorClass.prepareStackTrace = (thrown, sites) => {
    const self = sites[0]?.getThis();
    if (self instanceof WebAssembly.Instance) top = self;
    if (previous !== undefined) return previous(thrown, sites);
    return `${thrown}${sites.map((site) => `\n    at ${site}`).join("")}`;
  };
  try {
    void (error as Error).stack;
  } catch {
    // A stack that cannot be read names no instance.
  } finally {
    errorClass.prepareStackTrace = previous;
  }
  topInstances.set(error, top);
  return top;
}

/** The noted guest whose code threw `error`, if any. */
function ownerOfTop(error: object): Owner | undefined {
  const instance = topInstance(error);
  return instance === null ? undefined : owners.get(instance);
}

/**
 * The trap for an engine error thrown at a check of a guest's code run
 * outside any call of that guest (an `unreachable` trap, or JSPI's refusal
 * to suspend for an async guest's check), if `error` is one.
 *
 * @param error A `WebAssembly.RuntimeError` whose message is
 *   `unreachable`, or a `SuspendError`.
 * @returns The trap, or `undefined`.
 */
export function outsideCallTrap(error: object): GuestTrap | undefined {
  const owner = ownerOfTop(error);
  if (owner === undefined || !outsideCalls(owner.state)) return undefined;
  const label = oneLineText(owner.label, 200);
  return new GuestTrap(
    "outside_call",
    `a function of the guest ${label} was called while none of its calls was in progress, and none of it ran: its checks answer to its own calls' deadline, signal, stop and fuel, not to the caller's; call it through that guest's invoke, call or invokeAsync (from a host import, whose call's stops then cover it), not through a table, global or reference that another guest or the host holds`,
    { cause: error },
  );
}

/**
 * The trap for JSPI's refusal to suspend at a check of an async guest's
 * code reached from another guest's call (through a table or a reference)
 * while a call of that guest is in progress: its call waits in an async
 * import, or made the call that reached it. Its check pauses for the event
 * loop, which it can do only on its own call's stack, so it stopped there.
 *
 * @param error A `SuspendError`.
 * @returns The trap, or `undefined` when no guest's code threw it.
 */
export function reachedAsyncTrap(error: object): GuestTrap | undefined {
  const owner = ownerOfTop(error);
  if (owner === undefined) return undefined;
  const label = oneLineText(owner.label, 200);
  return new GuestTrap(
    "other",
    `a function of the async guest ${label}, reached from another guest's call (through a table or a reference) while a call of ${label} was in progress, stopped at a check that pauses for the event loop, which it can do only on that call's own stack: call it through ${label}'s invokeAsync, or load ${label} without async: true`,
    { cause: error },
  );
}
