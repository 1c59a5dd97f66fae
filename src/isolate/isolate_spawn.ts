/**
 * Starting an isolated call's child: through `nice`, `taskset` and `choom`
 * where `--allow-run` allows them, so that the host's thread gets a core
 * at the deadline and the OOM killer picks the child first, and with the
 * run permission asked for before the call's deadline counts.
 *
 * @module
 */

import { GuestLoadError } from "../errors.ts";
import { trackExit } from "./isolate_exits.ts";
import { nextTurn } from "../watchdog/yield.ts";

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

/** Whether `--allow-run` allows `command`, asked without a prompt. */
function runAllowed(command: string): boolean {
  return Deno.permissions.querySync({ name: "run", command }).state ===
    "granted";
}

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
  if (!runAllowed("taskset")) return false;
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
  if (!runAllowed("choom")) return false;
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
  if (runAllowed("nice")) {
    command.unshift("nice", "-n", String(CHILD_NICENESS));
  }
  if (childMarked()) {
    command.unshift("choom", "-n", String(CHILD_OOM_SCORE), "--");
  }
  if (childConfined()) command.unshift("taskset", "-c", CHILD_CPUS);
  return [command[0]!, command.slice(1)];
}

/**
 * Readies this process's first isolated call ahead, where `--allow-run`
 * allows starting its child (checked without a prompt): runs
 * {@linkcode readySpawn}, which loads Deno's code for starting processes
 * and starts the probes of `taskset` and `choom`. Spawns nothing else.
 */
export function readyIsolation(): void {
  if (!runAllowed(Deno.execPath()) && !runAllowed("nice")) return;
  void readySpawn();
}

/** Whether {@linkcode readySpawn} has begun. */
let readying: Promise<void> | undefined;

/**
 * Readies this process's first spawn of a child in pieces, each in a turn
 * of the event loop of its own: Deno's code for starting processes, which
 * the first `Deno.Command` loads (6 to 9 ms), then each wrapper's probe (a
 * spawn each). Done at once, with the child's own spawn, they held a
 * process's first isolated call's thread 15 to 18 ms, and a deadline that
 * fell then was seen that much late; between pieces it is seen at once.
 * Later calls find it done.
 */
export function readySpawn(): Promise<void> {
  readying ??= (async () => {
    // Constructing a command spawns nothing; it loads the code.
    new Deno.Command(Deno.execPath());
    await nextTurn();
    childMarked();
    await nextTurn();
    childConfined();
    await nextTurn();
  })();
  return readying;
}

/**
 * Asks for the run permission that starting the child needs, before the
 * call's deadline counts: without it the call's answer is the missing
 * permission, whatever its deadline and however slow the machine, and a
 * prompt the user answers is not the call's time. A `nice` the child can
 * be started through serves as well (see {@linkcode childCommand}).
 *
 * @returns Whether it asked (a prompt, when Deno may show one): the time
 *   the user took is not the call's.
 */
export function checkRunPermission(
  source: string | URL | Uint8Array | ArrayBuffer,
): boolean {
  if (runAllowed(Deno.execPath()) || runAllowed("nice")) return false;
  const asked = Deno.permissions.requestSync({
    name: "run",
    command: Deno.execPath(),
  });
  if (asked.state === "granted") return true;
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
 * a `GuestLoadError` naming the flag, and a `RangeError` when the system
 * refuses its environment or arguments as too long.
 */
export function spawnChild(
  label: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args">,
): Deno.ChildProcess {
  try {
    return spawnProgram(args, options);
  } catch (error) {
    if (tooLongToPass(error)) {
      const bytes = (texts: string[]) =>
        texts.reduce((sum, text) => sum + utf8.encode(text).length + 1, 0);
      const env = Object.entries(options.env ?? {}).map(([name, value]) =>
        `${name}=${value}`
      );
      throw new RangeError(
        `cannot run ${label} in a child process: the system refused its environment and arguments as too long (env ${
          bytes(env)
        } bytes, the largest variable ${
          Math.max(0, ...env.map((text) => bytes([text])))
        }; arguments ${
          bytes(args)
        }; Linux passes at most 131072 bytes a variable or argument, about 2 MiB in all); pass large values through the imports module or a file, not env or permissions`,
        { cause: error },
      );
    }
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new GuestLoadError(
      "permission",
      `cannot run ${label} in a child process: run permission is missing`,
      "run again with --allow-run",
      { cause: error },
    );
  }
}

const utf8 = new TextEncoder();

/**
 * Whether a spawn failed for an environment or arguments longer than the
 * system passes to a new process (`E2BIG`: on Linux, 128 KiB a variable or
 * argument, and about 2 MiB together), which Deno throws as a plain
 * `Error`.
 */
function tooLongToPass(error: unknown): boolean {
  return error instanceof Error && !(error instanceof Deno.errors.NotFound) &&
    /\(os error 7\)|Argument list too long/.test(error.message);
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
