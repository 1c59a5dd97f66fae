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

import { abortStop, deadlineStop } from "./call_watch.ts";
import {
  ExportError,
  GuestLoadError,
  OutOfMemory,
  withoutStack,
} from "./errors.ts";
import {
  ANSWER_CAP_BYTES,
  type ChildErrors,
  readAnswer,
  readErrors,
} from "./isolate_output.ts";
import { encodeValue, fromWire, type IsolatedRequest } from "./isolate_wire.ts";
import { startDeadline } from "./isolate_deadline.ts";
import { trackExit } from "./isolate_exits.ts";
import { checkLimits, type ResourceLimits, shareMemory } from "./limits.ts";
import { loadModule } from "./load.ts";
import { checkArgumentList, checkExportName } from "./exported_function.ts";
import { checkFuelAndTimeout } from "./option_checks.ts";
import { readOptions } from "./option_names.ts";
import {
  type CallOutcome,
  givenOutcome,
  START_FUNCTION,
  stoppedOutcome,
} from "./outcome.ts";
import { hasStartFunction } from "./signatures.ts";

/**
 * Permissions for the child, as Deno's `--allow-*` flags take them. These
 * five are the only ones: any other key is refused, and so is a path or
 * name with a comma in it, which Deno's flags would split.
 *
 * @example Usage
 * ```ts
 * import type { ChildPermissions } from "@early-exit/early-exit";
 *
 * // The child may read ./data and nothing else.
 * const permissions: ChildPermissions = { read: ["data"] };
 * console.log(permissions);
 * ```
 */
export interface ChildPermissions {
  /**
   * `--allow-read`: `true` for all, or the paths.
   *
   * @default false
   */
  read?: boolean | string[];
  /**
   * `--allow-write`: `true` for all, or the paths.
   *
   * @default false
   */
  write?: boolean | string[];
  /**
   * `--allow-net`: `true` for all, or the hosts.
   *
   * @default false
   */
  net?: boolean | string[];
  /**
   * `--allow-env`: `true` for all, or the variable names.
   *
   * @default false
   */
  env?: boolean | string[];
  /**
   * `--allow-import`: `true` for all, or the hosts.
   *
   * @default false
   */
  import?: boolean | string[];
}

/**
 * Options for {@linkcode invokeIsolated}.
 *
 * @example Usage
 * ```ts
 * import type { IsolatedCallOptions } from "@early-exit/early-exit";
 *
 * // A deadline, a fuel budget and a 64 MiB heap for the child.
 * const options: IsolatedCallOptions = { timeout: 1_000, fuel: 1e9, maxHeapMiB: 64 };
 * console.log(options);
 * ```
 */
export interface IsolatedCallOptions {
  /**
   * Kills the child after this many milliseconds: `timeout` outcome.
   *
   * @default undefined (no deadline)
   */
  timeout?: number;
  /**
   * Kills the child when aborted: `aborted` outcome (or `timeout` for a
   * timed-out signal).
   *
   * @default undefined
   */
  signal?: AbortSignal;
  /**
   * Meters the guest in the child with this budget.
   *
   * @default undefined (not metered)
   */
  fuel?: number;
  /**
   * The guest's memory, table and array limits, as `GuestOptions.limits`: a grow
   * past one returns -1, and a guest that starts above one ends the call
   * with a `GuestLoadError` (reason `limits`). Without `tables`, the
   * guest's own tables may grow to 1,000,000 elements together, or stay at
   * what they start with when that is more. Without `memory` (or
   * `maxHeapMiB`), its own memories may grow to 4 GiB together.
   *
   * @default undefined (memories and tables as above)
   */
  limits?: ResourceLimits;
  /**
   * A module whose default export is the guest's imports object, or a
   * function `(host) => imports`: functions cannot cross into another
   * process, so the child imports them itself. Give a URL, best made
   * relative to your own module as
   * `new URL("./imports.ts", import.meta.url)`. A path is resolved against
   * the working directory, as `Deno.readFile` resolves one (a library cannot
   * know its caller's location). The child may read a local module without
   * being given `read`.
   *
   * @default undefined (no imports but the interrupt)
   */
  imports?: string | URL;
  /**
   * The child's permissions.
   *
   * @default {} (none)
   */
  permissions?: ChildPermissions;
  /**
   * The child's environment variables. The child starts with an empty
   * environment (the host's is not inherited), plus these; it reads them
   * only if `permissions.env` allows it.
   *
   * @default {}
   */
  env?: Record<string, string>;
  /**
   * The child's heap limit in MiB (V8's `--max-old-space-size`). A child
   * that reaches it dies, and the call ends with the `out_of_memory`
   * outcome. Without it, V8's own limit applies, which may be most of the
   * machine's memory.
   *
   * It bounds V8's heap: JavaScript objects, and the guest's GC objects
   * and tables. It also bounds the guest's linear memories, which are
   * outside that heap: together they hold at most `maxHeapMiB` MiB (each
   * of `n` memories an `n`th of it, or `limits.memory` where that is
   * smaller), so a `memory.grow` past that returns -1, and a guest whose
   * memory starts above it is refused with a `GuestLoadError` (reason
   * `limits`). So the child holds at most about twice `maxHeapMiB`, plus
   * the runtime's own. Without it, the heap is not bounded, and the
   * guest's own memories hold 4 GiB together, or `limits.memory` each (a
   * child past the machine's memory is, on Linux, what the OOM killer ends
   * first, where `--allow-run` allows `choom`).
   *
   * @default undefined
   */
  maxHeapMiB?: number;
}

/** Every option {@linkcode invokeIsolated} takes. */
const ISOLATED_OPTION_NAMES: readonly (keyof IsolatedCallOptions)[] = [
  "timeout",
  "signal",
  "fuel",
  "limits",
  "imports",
  "permissions",
  "env",
  "maxHeapMiB",
];

const MIB = 1024 * 1024;

/** The largest `maxHeapMiB` whose bytes are still a safe integer. */
const MAX_HEAP_MIB = Math.floor(Number.MAX_SAFE_INTEGER / MIB);

const CHILD = new URL("./isolate_child.ts", import.meta.url);

const PERMISSION_NAMES: readonly (keyof ChildPermissions)[] = [
  "read",
  "write",
  "net",
  "env",
  "import",
];

/** The entries of a permission, checked: strings Deno's flag can carry. */
function permissionValue(name: string, value: unknown): boolean | string[] {
  if (value === undefined || typeof value === "boolean") return value ?? false;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new TypeError(
      `permissions.${name} must be true, false or an array of strings`,
    );
  }
  const split = value.find((entry) => entry.includes(","));
  if (split !== undefined) {
    throw new TypeError(
      `permissions.${name} cannot hold ${
        JSON.stringify(split)
      }: Deno's --allow-${name} flag splits its list at commas, so a comma in a path or name would grant something else`,
    );
  }
  const cut = value.find((entry) => entry.includes("\0"));
  if (cut !== undefined) {
    throw new TypeError(
      `permissions.${name} cannot hold ${
        JSON.stringify(cut)
      }: a NUL byte cannot be passed in a command-line flag; remove it`,
    );
  }
  return value;
}

function permissionFlags(
  permissions: ChildPermissions = {},
  imports: string | undefined,
): string[] {
  for (const name of Object.keys(permissions)) {
    if (!(PERMISSION_NAMES as readonly string[]).includes(name)) {
      throw new TypeError(
        `the isolated child cannot be given the permission "${name}": it may have ${
          PERMISSION_NAMES.join(", ")
        }`,
      );
    }
  }
  const granted = new Map(
    PERMISSION_NAMES.map((name) => [
      name,
      permissionValue(name, permissions[name]),
    ]),
  );
  // A local module loaded by a dynamic import needs read access to itself.
  const read = granted.get("read")!;
  if (imports?.startsWith("file:") && read !== true) {
    const path = decodeURIComponent(new URL(imports).pathname);
    if (path.includes(",")) {
      throw new TypeError(
        `the imports module ${
          JSON.stringify(path)
        } has a comma in its path, which Deno's --allow-read flag would split into paths that grant something else; move it to a path without one`,
      );
    }
    granted.set("read", [...(read === false ? [] : read), path]);
  }
  const flags: string[] = [];
  for (const [name, value] of granted) {
    if (value === true) flags.push(`--allow-${name}`);
    else if (value !== false && value.length > 0) {
      flags.push(`--allow-${name}=${value.join(",")}`);
    }
  }
  // A child loaded over the network needs to import its own modules.
  if (CHILD.protocol !== "file:" && permissions.import === undefined) {
    flags.push(`--allow-import=${CHILD.host}`);
  }
  return flags;
}

function heapFlags(maxHeapMiB: number | undefined): string[] {
  if (maxHeapMiB === undefined) return [];
  // As bytes it bounds the guest's memories too (`limits.memory`).
  if (
    !Number.isSafeInteger(maxHeapMiB) || maxHeapMiB <= 0 ||
    maxHeapMiB > MAX_HEAP_MIB
  ) {
    throw new RangeError(
      `maxHeapMiB must be a positive whole number of MiB, at most ${MAX_HEAP_MIB}; got ${maxHeapMiB}`,
    );
  }
  return [`--v8-flags=--max-old-space-size=${maxHeapMiB}`];
}

function childEnv(env: Record<string, string> = {}): Record<string, string> {
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string") {
      throw new TypeError(`env.${name} must be a string`);
    }
    // The environment is C strings of NAME=VALUE: a NUL would cut one
    // short, and an "=" in a name make it another variable.
    if (name === "" || name.includes("=") || name.includes("\0")) {
      throw new TypeError(
        `env has a variable named ${
          JSON.stringify(name)
        }, which the child would not see as given: a name must be non-empty and hold no "=" or NUL; rename it`,
      );
    }
    if (value.includes("\0")) {
      throw new TypeError(
        `env.${name} holds a NUL byte, which would end it there for the child; remove it`,
      );
    }
  }
  return { ...env, NO_COLOR: "1" };
}

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

function resolveImports(imports: string | URL | undefined): string | undefined {
  if (imports === undefined) return undefined;
  if (imports instanceof URL) return imports.href;
  if (/^[a-z][a-z0-9+.-]+:/i.test(imports)) return imports;
  return new URL(imports, `file://${Deno.cwd()}/`).href;
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
 * the `out_of_memory` outcome. The child never outlives this process: it
 * kills itself when this process dies, however it dies.
 *
 * The deadline counts from this call, so it covers loading the guest and
 * starting the child. At the deadline or on abort the call returns and the
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
 * const compute = new URL("../guest/compute.wasm", import.meta.url);
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

async function callIsolated(
  source: string | URL | Uint8Array | ArrayBuffer,
  name: string,
  args: unknown[],
  options: IsolatedCallOptions,
): Promise<CallOutcome> {
  checkFuelAndTimeout(options, "invokeIsolated");
  if ((options as { stop?: unknown }).stop !== undefined) {
    throw new TypeError(
      "invokeIsolated cannot take a StopSignal (stop): the guest runs in a child process, which no flag of this one reaches; stop the call with a timeout, or with an AbortSignal (signal) that this thread aborts",
    );
  }
  options = readOptions(options, ISOLATED_OPTION_NAMES, "invokeIsolated");
  checkExportName(name);
  checkArgumentList(name, args);
  const limits = checkLimits(options.limits, "invokeIsolated");
  const request = {
    export: name,
    args: args.map((value, index) => encodeArgument(value, index)),
    fuel: options.fuel,
    limits,
    imports: resolveImports(options.imports),
  };
  const childArgs = [
    "run",
    "--no-prompt",
    "--no-config",
    ...heapFlags(options.maxHeapMiB),
    ...permissionFlags(options.permissions, request.imports),
    CHILD.href,
  ];
  const env = childEnv(options.env);

  checkRunPermission(source);
  // The deadline counts from here: loading the guest and starting the child
  // are part of the call.
  const started = performance.now();
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
  signal?.addEventListener("abort", onAbort);
  if (signal?.aborted) onAbort();

  // Resolved when the call ends: the child's stdin is closed then, and its
  // guard kills it if it is still there.
  const release = Promise.withResolvers<void>();

  const run = async (): Promise<ChildEnd | undefined> => {
    // The child compiles the guest, and reports an invalid one as the same
    // InvalidModule; compiling it here too would spend the call's time.
    // Given up at the stop: a file that never ends (a FIFO no one writes
    // to) would otherwise keep this work, which isolatedChildrenExited()
    // waits for, going for ever.
    const module = await Promise.race([
      loadModule(source, { compile: false, signal: fetching.signal }),
      stop.promise,
    ]);
    if (module === undefined) return undefined;
    const { bytes, label } = module;
    hasStart = hasStartFunction(bytes!);
    if (killedBy !== undefined) return undefined;
    // The heap limit bounds the guest's linear memories too, which are
    // outside V8's heap: together they hold at most as much.
    const limits = options.maxHeapMiB === undefined
      ? request.limits
      : shareMemory(
        bytes!,
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
      moduleBytes: bytes!.length,
      deadline: options.timeout === undefined
        ? undefined
        : performance.timeOrigin + started + options.timeout +
          GUARD_KILL_AFTER_MS,
    };
    const spawned = spawnChild(label, childArgs, {
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
    const sending = sendRequest(spawned.stdin, wire, bytes!, release.promise);
    const [answer, errors] = await reading;
    const status = await spawned.status;
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
        error: new OutOfMemory(options.maxHeapMiB),
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
    signal?.removeEventListener("abort", onAbort);
    release.resolve();
  }
}

/**
 * How much lower than the host's the child's scheduling priority is (its
 * `nice` value, added to the host's).
 */
const CHILD_NICENESS = 10;

/**
 * The CPUs the child may run on, as `taskset` takes them: every CPU but the
 * first (the kernel keeps those this process may use at all).
 */
const CHILD_CPUS = "1-1023";

/** Whether `taskset` confines a child here: unknown until probed. */
let confines: boolean | undefined;

/**
 * The child's `oom_score_adj` (Linux): the most, so that when the machine
 * runs out of memory the kernel's OOM killer ends the child before the host.
 * Raising one's own score needs no privilege.
 */
const CHILD_OOM_SCORE = 1000;

/** Whether `choom` marks a child here: unknown until probed. */
let marks: boolean | undefined;

/**
 * Whether the child can be kept off one of this process's CPUs: this
 * process may use two CPUs or more, and `taskset` is allowed by
 * `--allow-run` (checked without prompting) and works. The first call asks
 * `taskset` in the background, and starts its own child without it, so
 * that no call waits for the answer.
 */
function childConfined(): boolean {
  if (confines !== undefined) return confines;
  confines = false;
  if ((globalThis.navigator?.hardwareConcurrency ?? 1) < 2) return false;
  const run = Deno.permissions.querySync({ name: "run", command: "taskset" });
  if (run.state !== "granted") return false;
  // Kept with the children, so that isolatedChildrenExited() waits for it.
  trackExit(
    new Deno.Command("taskset", {
      args: ["-c", CHILD_CPUS, "true"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output().then((probe) => confines = probe.success),
    // Not installed (as on Windows and macOS): the child runs anywhere.
  );
  return false;
}

/**
 * Whether the child can be made the OOM killer's first choice: `choom` is
 * allowed by `--allow-run` (checked without prompting) and works (Linux's
 * util-linux has it). Probed in the background by the first call, as
 * `taskset` is.
 */
function childMarked(): boolean {
  if (marks !== undefined) return marks;
  marks = false;
  const run = Deno.permissions.querySync({ name: "run", command: "choom" });
  if (run.state !== "granted") return false;
  trackExit(
    new Deno.Command("choom", {
      args: ["-n", String(CHILD_OOM_SCORE), "--", "true"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output().then((probe) => marks = probe.success),
    // Not installed (as on Windows and macOS): the kernel picks as it does.
  );
  return false;
}

/**
 * The command that starts the child: `deno` with `args`, through `nice`,
 * so that every thread of it runs at a lower priority than the host's, and
 * through `taskset`, so that it runs on every CPU but one. At the deadline
 * the host's thread wakes to return while the child's threads still run; on
 * 2 cores it waited for them (p99 late 1.7–5.1 ms at the same priority,
 * 0.7–2.8 below it), and the kernel lets a running thread finish its slice
 * before a woken one of any priority gets its core: with the child off one
 * core, a 1 GiB fill's p99 went from 1.2–4.1 ms to 0.8–1.1. And through
 * `choom`, so that a guest that takes the machine's memory (isolation
 * without `maxHeapMiB`) is what the OOM killer ends, not its host. Each
 * wrapper is left out where it cannot be run (not on the PATH, not allowed
 * by `--allow-run`, one CPU).
 *
 * @param args The child's arguments to `deno`.
 * @returns The program and its arguments.
 */
export function childCommand(args: string[]): [string, string[]] {
  const command = [Deno.execPath(), ...args];
  const nice = Deno.permissions.querySync({ name: "run", command: "nice" });
  if (nice.state === "granted") {
    command.unshift("nice", "-n", String(CHILD_NICENESS));
  }
  if (childMarked()) {
    command.unshift("choom", "-n", String(CHILD_OOM_SCORE), "--");
  }
  if (childConfined()) command.unshift("taskset", "-c", CHILD_CPUS);
  return [command[0]!, command.slice(1)];
}

/**
 * Asks for the run permission that starting the child needs, before the
 * call's deadline counts: without it the call's answer is the missing
 * permission, whatever its deadline and however slow the machine, and a
 * prompt the user answers is not the call's time. A `nice` the child can
 * be started through serves as well (see {@linkcode childCommand}).
 */
function checkRunPermission(
  source: string | URL | Uint8Array | ArrayBuffer,
): void {
  const granted = (command: string) =>
    Deno.permissions.querySync({ name: "run", command }).state === "granted";
  if (granted(Deno.execPath()) || granted("nice")) return;
  const asked = Deno.permissions.requestSync({
    name: "run",
    command: Deno.execPath(),
  });
  if (asked.state === "granted") return;
  const label = typeof source === "string" || source instanceof URL
    ? String(source)
    : "the guest";
  throw new GuestLoadError(
    "permission",
    `cannot run ${label} in a child process: run permission is missing`,
    "run again with --allow-run",
  );
}

/**
 * Spawns the child (see {@linkcode childCommand}); without `--allow-run`,
 * a `GuestLoadError` naming the flag.
 */
function spawnChild(
  label: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args">,
): Deno.ChildProcess {
  try {
    return spawnProgram(args, options);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new GuestLoadError(
      "permission",
      `cannot run ${label} in a child process: run permission is missing`,
      "run again with --allow-run",
      { cause: error },
    );
  }
}

/** Spawns the child, through `nice` and `taskset` where allowed. */
function spawnProgram(
  args: string[],
  options: Omit<Deno.CommandOptions, "args">,
): Deno.ChildProcess {
  const [program, programArgs] = childCommand(args);
  if (program !== Deno.execPath()) {
    try {
      return new Deno.Command(program, { ...options, args: programArgs })
        .spawn();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return new Deno.Command(Deno.execPath(), { ...options, args }).spawn();
}

/**
 * How long after the deadline the child's guard kills the child, for a
 * host whose thread is too busy to do it. Not at the deadline itself: a
 * child dying then wakes its threads just as the host's thread wakes to
 * return, and the call came back about 1 ms late in the median (0.3 ms with
 * the guard's kill 1 ms or more later).
 */
const GUARD_KILL_AFTER_MS = 5;

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
 * How far apart the host's and the child's clocks may read: each reads the
 * system clock once, as it starts, and counts from there.
 */
const CLOCK_SKEW_MS = 1;

/**
 * Writes the call to the child's stdin, and keeps the pipe open until
 * `release`: the child's guard kills the child when the pipe closes, which
 * it also does when this process dies.
 */
async function sendRequest(
  stdin: WritableStream<Uint8Array>,
  wire: IsolatedRequest,
  bytes: Uint8Array,
  release: Promise<void>,
): Promise<void> {
  const writer = stdin.getWriter();
  // A write fails when the child is gone (killed, or failed to start).
  await writer.write(new TextEncoder().encode(`${JSON.stringify(wire)}\n`))
    .catch(() => {});
  await writer.write(bytes).catch(() => {});
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
