/**
 * Isolation mode: runs one call in a child Deno process, so that the host
 * can stop any guest, even one that is not instrumented, by killing it.
 *
 * Why a process and not a Worker: since Deno 2.7.6, `Worker.terminate()`
 * does not stop a worker that is busy in wasm or JavaScript, and afterwards
 * the process never exits; worker permissions also need an unstable flag. A
 * child process stops on SIGKILL within milliseconds, runs with exactly the
 * permissions the host gives it (none by default), and cannot keep the host
 * alive. Starting one costs a few tens of milliseconds. The host needs
 * `--allow-run` to spawn it.
 *
 * The child gets only what the caller names: the permissions of
 * {@linkcode ChildPermissions} (any other key is refused), an empty
 * environment plus `env`, and a heap limit when `maxHeapMiB` is set. What it
 * prints is forwarded to the host's stdout and stderr, up to a cap.
 *
 * The child's guard (`isolate_guard.ts`) kills it when the host closes its
 * stdin or dies.
 *
 * @module
 */

import { abortStop, deadlineStop } from "../call/call_watch.ts";
import {
  ExportError,
  GuestLoadError,
  OutOfMemory,
  withoutStack,
} from "../errors.ts";
import {
  ANSWER_CAP_BYTES,
  type ChildErrors,
  readAnswer,
  readErrors,
} from "./isolate_output.ts";
import { encodeValue, fromWire, type IsolatedRequest } from "./isolate_wire.ts";
import { startDeadline } from "./isolate_deadline.ts";
import { trackExit } from "./isolate_exits.ts";
import {
  checkLimits,
  type ResourceLimits,
  shareMemory,
} from "../module/limits.ts";
import { checkSource } from "../load/load.ts";
import { type GuestForChild, guestForChild } from "./isolate_guest.ts";
import { outlineDigest } from "../load/load_outline.ts";
import { isInstance } from "../thrown_values.ts";
import {
  checkExportName,
  readArgumentList,
} from "../load/exported_function.ts";
import {
  checkFuelAndTimeout,
  checkRecordValue,
  describeValue,
} from "../option_checks.ts";
import { readOptions } from "../option_names.ts";
import {
  type CallOutcome,
  givenOutcome,
  START_FUNCTION,
  stoppedOutcome,
} from "../call/outcome.ts";
import { hasStartFunction } from "../module/signatures.ts";
import {
  ISOLATED_OPTION_NAMES,
  type IsolatedCallOptions,
} from "./isolate_options.ts";
import {
  CHILD,
  childEnv,
  heapFlags,
  MIB,
  permissionFlags,
  resolveImports,
} from "./isolate_command.ts";
import { checkRunPermission, readySpawn, spawnChild } from "./isolate_spawn.ts";
import { roomForChild } from "./isolate_children.ts";
import {
  listenForAbort,
  signalAborted,
  stopListeningForAbort,
} from "../call/abort_signal_reads.ts";
import { ownSource } from "../bytes.ts";

function encodeArgument(value: unknown, index: number): unknown {
  if (typeof value === "bigint" || typeof value === "number") {
    return encodeValue(value);
  }
  throw new ExportError(
    `isolated calls take numbers and bigints as arguments; argument ${index} is ${
      kindOf(value)
    }: pass a number (or a bigint for i64), and run calls that need references in process`,
  );
}

/** "an object", "a string", "null": what a value is, with its article. */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  const kind = typeof value;
  return kind === "object" ? "an object" : `a ${kind}`;
}

/**
 * Runs one export of a guest in a child Deno process, and kills the child
 * (SIGKILL) at the deadline or on abort. The result and error types are the
 * same as {@linkcode Guest.invoke}'s; errors are rebuilt in this process
 * as the same branded classes. The guest's start function runs under the
 * same deadline, abort and fuel; when it is stopped, the outcome names the
 * export `"(start)"` (the child says when it has returned; a stop that
 * comes a few milliseconds after, before this process has read that, may
 * still name it). Needs `--allow-run`.
 *
 * What the child prints goes to this process's stdout and stderr: the first
 * MiB of each; the rest is read and dropped (a note on stderr says how
 * much), so a child that floods its output neither fills the host's memory
 * nor delays its stop. A child that runs out of memory ends the call with
 * the `out_of_memory` outcome, whose error says so in one line: V8's own
 * report of it (tens of lines) is not forwarded. The child never outlives this process: it
 * kills itself when this process dies, however it dies.
 *
 * The deadline counts from this call, so it covers loading the guest, a
 * wait for room (at most {@linkcode isolatedChildrenLimit} children run at
 * once, and a call past it waits until one has exited, first come first)
 * and starting the child. At the deadline or on abort the call returns and the
 * child is killed; should this thread be busy then, the child kills itself
 * 5 ms after the deadline, on a thread the guest cannot hold up. The child
 * runs 10 nice levels below this process (through `nice`) and off one of
 * its CPUs (through `taskset`), where `--allow-run` allows them, so that
 * this thread gets a core at the deadline. The child's exit (some tens of
 * milliseconds for one holding a GiB of memory) is awaited afterwards, and
 * {@linkcode isolatedChildrenExited} waits for it.
 *
 * @param source The guest: a path, URL, bytes or compiled module's bytes.
 * @param name The export to call.
 * @param args Its arguments: numbers, or bigints for `i64`. Results cross
 *   back the same way: an export that returns a reference (a function, a
 *   host object, a GC object), which cannot leave the child, is refused
 *   with an `ExportError`.
 * @param options The deadline, signal, fuel, imports module, and the child's permissions, environment and heap limit.
 * @returns How the call ended.
 * @throws {TypeError} When a permission is not one of {@linkcode ChildPermissions}, or a path or name in one has a comma or a NUL byte.
 * @throws {RangeError} When `maxHeapMiB` is not a positive whole number of MiB whose bytes are a safe integer.
 * @throws {GuestLoadError} Without `--allow-run` (reason `permission`), or when the guest cannot be read.
 * @throws {ExportError} When the name is not a string, or an argument is not a number or a bigint.
 *
 * @example Usage
 * ```ts
 * import { invokeIsolated } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * // The child meters the guest; the outcome comes back as from invoke.
 * const compute = new URL("../../guest/compute.wasm", import.meta.url);
 * const result = await invokeIsolated(compute, "fib", [30], { fuel: 10_000 });
 * assert.equal(result.outcome, "fuel_exhausted");
 * ```
 */
export async function invokeIsolated(
  source: string | URL | Uint8Array | ArrayBuffer,
  name: string,
  args: unknown[] = [],
  options: IsolatedCallOptions = {},
): Promise<CallOutcome> {
  // Marked as given: a host import that throws its error again ends its
  // own call with outcome `error`, not with this call's stop.
  return givenOutcome(await callIsolated(source, name, args, options));
}

/**
 * Checks an isolated call's source, export, arguments and options, before
 * anything starts: returns the arguments and options as read (once: a
 * getter is not read twice), and the limits.
 */
function checkIsolatedCall(
  source: string | URL | Uint8Array | ArrayBuffer,
  name: string,
  args: unknown[],
  options: IsolatedCallOptions,
): {
  args: unknown[];
  options: IsolatedCallOptions;
  limits: ResourceLimits | undefined;
} {
  checkFuelAndTimeout(options, "invokeIsolated");
  if ((options as { stop?: unknown }).stop !== undefined) {
    throw new TypeError(
      "invokeIsolated cannot take a StopSignal (stop): the guest runs in a child process, which no flag of this one reaches; stop the call with a timeout, or with an AbortSignal (signal) that this thread aborts",
    );
  }
  options = readOptions(options, ISOLATED_OPTION_NAMES, "invokeIsolated");
  checkSource(
    source,
    "invokeIsolated runs the guest in a child process, which reads its bytes",
  );
  checkExportName(name);
  args = readArgumentList(name, args, "invokeIsolated");
  const limits = checkLimits(options.limits, "invokeIsolated");
  const imports = options.imports as unknown;
  if (
    imports !== undefined && typeof imports !== "string" &&
    !isInstance(imports, URL)
  ) {
    throw new TypeError(
      `invokeIsolated's imports must be the path or URL of a module whose default export is the imports object (functions cannot cross to the child process); got ${
        describeValue(imports)
      }`,
    );
  }
  checkRecordValue(
    options.permissions,
    "invokeIsolated's permissions",
    'an object of the child\'s permissions, such as { read: ["data"], net: true }',
  );
  checkRecordValue(
    options.env,
    "invokeIsolated's env",
    'an object of variable names and their values, such as { NAME: "value" }',
  );
  return { args, options, limits };
}

async function callIsolated(
  source: string | URL | Uint8Array | ArrayBuffer,
  name: string,
  args: unknown[],
  options: IsolatedCallOptions,
): Promise<CallOutcome> {
  // The deadline counts from here, as the caller counts it: checking the
  // options (which may run the caller's getters) and building the child's
  // command took 0.1 to 27 ms that the call's own clock did not see.
  const called = performance.now();
  source = ownSource(source);
  const checked = checkIsolatedCall(source, name, args, options);
  options = checked.options;
  const { limits } = checked;
  const request = {
    export: name,
    args: checked.args.map((value, index) => encodeArgument(value, index)),
    fuel: options.fuel,
    limits,
    imports: resolveImports(options.imports),
  };
  const childArgs = (guestPath?: string) => [
    "run",
    "--no-prompt",
    "--no-config",
    ...heapFlags(options.maxHeapMiB),
    ...permissionFlags(options.permissions, request.imports, guestPath),
    CHILD.href,
  ];
  // Checked before the call starts: flags the child cannot be given.
  childArgs();
  const env = childEnv(options.env);

  // Loading the guest and starting the child are part of the call; a
  // prompt for the run permission, which the user answers, is not.
  const started = checkRunPermission(source) ? performance.now() : called;
  const stop = Promise.withResolvers<void>();
  let child: Deno.ChildProcess | undefined;
  let killedBy: "timeout" | "aborted" | undefined;
  // The child's answer, once read: it may come before a stop whose child
  // has not yet closed its output (it is still giving its memory back).
  let answered: string | undefined;
  // The length of an answer too long to read, if the child gave one.
  let tooLong: number | undefined;
  // Whether the guest has a start function, and whether the child has
  // said that it returned: until then, a stop stops the start function.
  let hasStart = false;
  let loaded = false;
  const stoppedExport = () => hasStart && !loaded ? START_FUNCTION : name;
  // Ends a fetch of the guest that the stop came in the middle of: a
  // server that never answers would otherwise keep it, and so the call's
  // work that isolatedChildrenExited() waits for, going for ever.
  const fetching = new AbortController();
  const kill = (why: "timeout" | "aborted") => {
    if (killedBy !== undefined) return;
    killedBy = why;
    stop.resolve();
    fetching.abort();
    // Not sent from here and now: the kernel wakes every thread of the
    // dying child, and they run ahead of the thread that sent the kill
    // (1 ms in the median, up to 5, on 2 cores), so the call would return
    // that much late. It is sent once the call has returned. Should this
    // thread then be busy, the child's guard kills the child by itself
    // (GUARD_KILL_AFTER_MS after the deadline; on an abort, when the call's
    // end closes the child's stdin).
    setTimeout(() => {
      try {
        child?.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 0);
  };
  const cancelDeadline = options.timeout === undefined
    ? undefined
    : startDeadline(started + options.timeout, () => kill("timeout"));
  const signal = options.signal;
  const onAbort = () => kill("aborted");
  if (signal !== undefined) {
    listenForAbort(signal, onAbort);
    if (signalAborted(signal)) onAbort();
  }

  // Resolved when the call ends: the child's stdin is closed then, and its
  // guard kills it if it is still there.
  const release = Promise.withResolvers<void>();

  const run = async (): Promise<ChildEnd | undefined> => {
    // The child compiles the guest, and reports an invalid one as the same
    // InvalidModule; compiling it here too would spend the call's time.
    // Given up at the stop: a file that never ends (a FIFO no one writes
    // to) would otherwise keep this work, which isolatedChildrenExited()
    // waits for, going for ever.
    const guest = await Promise.race([
      guestForChild(source, fetching.signal),
      stop.promise,
    ]);
    if (guest === undefined) return undefined;
    hasStart = hasStartFunction(outlineOf(guest));
    if (killedBy !== undefined) return undefined;
    await readySpawn();
    if (killedBy !== undefined) return undefined;
    const giveRoomBack = await roomForChild(stop.promise);
    if (giveRoomBack === undefined) return undefined;
    try {
      if (killedBy !== undefined) return undefined;
      return await runChild(guest);
    } finally {
      // The child has exited (or never started): its room is another's.
      giveRoomBack();
    }
  };

  const runChild = async (guest: GuestForChild): Promise<ChildEnd> => {
    const { label } = guest;
    const file = "path" in guest ? guest : undefined;
    const outline = outlineOf(guest);
    // The heap limit bounds the guest's linear memories too, which are
    // outside V8's heap: together they hold at most as much.
    const limits = options.maxHeapMiB === undefined
      ? request.limits
      : shareMemory(
        outline,
        request.limits,
        options.maxHeapMiB * MIB,
        "maxHeapMiB",
        label,
      );
    const wire: IsolatedRequest = {
      ...request,
      limits,
      label,
      answerTag: `early-exit answer ${crypto.randomUUID()}: `,
      moduleBytes: file?.size ?? outline.length,
      modulePath: file?.path,
      moduleOutline: file === undefined
        ? undefined
        : await outlineDigest(file.outline),
      deadlineAfterMs: options.timeout === undefined ? undefined : Math.max(
        0,
        started + options.timeout + GUARD_KILL_AFTER_MS - performance.now(),
      ),
    };
    const spawned = spawnChild(label, childArgs(file?.path), {
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env,
      // Not `detached`: a session of its own makes the kill quicker, but
      // Deno then forks this whole process to spawn it, which blocks this
      // thread for tens of milliseconds in a host holding a GiB.
    });
    child = spawned;
    // Read while writing: a child that prints before it has read all of
    // its input must not block on a full pipe.
    const reading = Promise.all([
      readAnswer(
        spawned.stdout,
        wire.answerTag,
        undefined,
        (line) => {
          answered ??= line;
        },
        () => loaded = true,
        (bytes) => tooLong = bytes,
      ),
      readErrors(spawned.stderr),
    ]);
    const sending = sendRequest(
      spawned.stdin,
      wire,
      file === undefined ? outline : undefined,
      release.promise,
    );
    const [answer, errors] = await reading;
    const status = await spawned.status;
    // V8's report of the child's death by memory is said by the outcome.
    errors.finish(errors.outOfMemory && !status.success);
    // The child is gone; a stopped call released its stdin when it ended.
    release.resolve();
    await sending;
    return { label, answer, errors, status };
  };

  try {
    const call = run();
    // A stopped call returns at the kill; the child's exit, which may take
    // tens of milliseconds, is waited for after it (isolatedChildrenExited).
    trackExit(call);
    const end = await Promise.race([stop.promise, call]);
    // The guest had returned before the stop: its answer stands.
    if (answered !== undefined) return fromWire(JSON.parse(answered));
    if (killedBy !== undefined || end === undefined) {
      return stopped(stoppedExport(), killedBy!, started, options);
    }
    const { label, answer, errors, status } = end;
    if (killedByItsGuard(status, started, options.timeout)) {
      return stopped(stoppedExport(), "timeout", started, options);
    }
    if (errors.outOfMemory && !status.success) {
      return {
        outcome: "out_of_memory",
        export: name,
        error: new OutOfMemory(
          options.maxHeapMiB,
          undefined,
          errors.refusedBySystem(options.maxHeapMiB),
        ),
      };
    }
    if (status.success && tooLong !== undefined) {
      throw new GuestLoadError(
        "io",
        `the isolated call of ${label} ended, but its answer was ${tooLong} bytes long, more than the ${
          ANSWER_CAP_BYTES / 1024 / 1024
        } MiB the host reads`,
        "an error's fields (an import's name, an interrupt's reason) or what an import threw were that long: keep them shorter",
      );
    }
    if (!status.success || answer === undefined) {
      throw failed(label, status, errors);
    }
    return fromWire(JSON.parse(answer));
  } finally {
    cancelDeadline?.();
    if (signal !== undefined) stopListeningForAbort(signal, onAbort);
    release.resolve();
  }
}

/** What the host looks at: the file's outline, or the bytes it sends. */
function outlineOf(guest: GuestForChild): Uint8Array {
  return "path" in guest ? guest.outline : guest.bytes;
}

/**
 * How long after the deadline the child's guard kills the child, for a
 * host whose thread is too busy to do it. Not at the deadline itself: a
 * child dying then wakes its threads just as the host's thread wakes to
 * return, and the call came back about 1 ms late in the median (0.3 ms with
 * the guard's kill 1 ms or more later).
 */
export const GUARD_KILL_AFTER_MS = 5;

/**
 * Whether the child's guard killed it after the call's deadline, before this
 * thread's own timer fired (late, as this thread was busy).
 */
function killedByItsGuard(
  status: Deno.CommandStatus,
  started: number,
  timeout: number | undefined,
): boolean {
  return status.signal === "SIGKILL" && timeout !== undefined &&
    performance.now() >= started + timeout - CLOCK_SKEW_MS;
}

/**
 * How far ahead of this thread's clock the child's guard may kill: it
 * counts the deadline from when it read the request, after this thread
 * wrote it, so never before; a millisecond allows for the two clocks'
 * readings.
 */
const CLOCK_SKEW_MS = 1;

/**
 * Writes the call to the child's stdin, the module's bytes after it unless
 * the child reads the guest's file itself, and keeps the pipe open until
 * `release`: the child's guard kills the child when the pipe closes, which
 * it also does when this process dies.
 */
async function sendRequest(
  stdin: WritableStream<Uint8Array>,
  wire: IsolatedRequest,
  bytes: Uint8Array | undefined,
  release: Promise<void>,
): Promise<void> {
  const writer = stdin.getWriter();
  // A write fails when the child is gone (killed, or failed to start).
  await writer.write(new TextEncoder().encode(`${JSON.stringify(wire)}\n`))
    .catch(() => {});
  if (bytes !== undefined) await writer.write(bytes).catch(() => {});
  await release;
  await writer.close().catch(() => {});
}

/** How a child ended: its answer, what its stderr said, and its status. */
interface ChildEnd {
  label: string;
  answer: string | undefined;
  errors: ChildErrors;
  status: Deno.CommandStatus;
}

function failed(
  label: string,
  status: Deno.CommandStatus,
  errors: ChildErrors,
): GuestLoadError {
  if (errors.error === undefined && errors.panic !== undefined) {
    // Deno's own failure, which a guest that uses up the child's address
    // space or threads can bring about: not a permission to check.
    return new GuestLoadError(
      "io",
      `the isolated call of ${label} failed: its child process crashed (Deno panicked: ${errors.panic})`,
      "a guest that uses up the child's memory, address space or threads can cause it: give the guest fewer memories or less to hold, and see the report on stderr",
    );
  }
  const why = errors.error ??
    (status.signal === null
      ? `exit code ${status.code}`
      : `killed by ${status.signal}`);
  return new GuestLoadError(
    "io",
    `the isolated call of ${label} failed: ${why}`,
    "check the permissions given to the child and its imports module",
  );
}

function stopped(
  name: string,
  why: "timeout" | "aborted",
  started: number,
  options: IsolatedCallOptions,
): CallOutcome {
  const stop = why === "aborted"
    ? abortStop(options.signal!, started)
    : deadlineStop(options.timeout!, started);
  return stoppedOutcome(name, withoutStack(stop))!;
}
