/** Runs the CLI, or any Deno program, as a subprocess and captures what it printed. */

import assert from "./assert.ts";

export const REPO_ROOT = new URL("../../", import.meta.url);

/** What a finished subprocess printed. */
export interface Finished {
  code: number;
  /** The signal that ended it, if one did (e.g. when `signal` fired). */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Where to run, and when to give up on the subprocess. */
export interface RunOptions {
  cwd?: URL | string;
  /** Kills the subprocess when it fires. */
  signal?: AbortSignal;
}

/**
 * Runs `deno <args>` from the repository root with no TTY on stdin, so that
 * Deno never prompts for a permission.
 */
export async function runDeno(
  args: string[],
  { cwd = REPO_ROOT, signal }: RunOptions = {},
): Promise<Finished> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal,
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    signal: output.signal,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Starts `deno <args>` with no TTY on stdin and its stdout and stderr
 * piped, for a test that reads them as they come (a pipe it fills, or
 * closes early); the subprocess is killed after 60 s.
 */
export function spawnDeno(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(60_000),
  }).spawn();
}

/** Runs `deno run <flags> main.ts <args>`. */
export function runMain(
  flags: string[],
  args: string[] = [],
): Promise<Finished> {
  return runDeno(["run", "--no-prompt", ...flags, "main.ts", ...args]);
}

/**
 * Runs `main.ts <args>` with read access to the repository, reading its
 * stdout as it comes: with `interruptOn`, sends SIGINT (or `signal`) once
 * stdout holds that text. With `stdin: "piped"`, stdin stays open and empty.
 */
export async function runMainStreaming(
  args: string[],
  { interruptOn, stdin = "null", signal = "SIGINT" }: {
    interruptOn?: string;
    stdin?: "null" | "piped";
    /** What to send in place of SIGINT. */
    signal?: Deno.Signal;
  } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${REPO_ROOT.pathname}`,
      new URL("main.ts", REPO_ROOT).pathname,
      ...args,
    ],
    stdin,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  let stdout = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += new TextDecoder().decode(value);
    if (interruptOn !== undefined && stdout.includes(interruptOn)) {
      child.kill(signal);
      interruptOn = undefined;
    }
  }
  const stderr = await new Response(child.stderr).text();
  const status = await child.status;
  if (stdin === "piped") await child.stdin.close().catch(() => {});
  return { code: status.code, stdout, stderr };
}

/**
 * Waits for every run in `runs` (started at once, as independent runs may
 * be), then throws the first failure: unlike `Promise.all`, no run is left
 * going when one fails.
 */
export async function allRuns<T>(runs: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(runs);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * Runs the command line with `--timeout=100`, then 400, 1600 and 6400 ms,
 * until `began` says the run's deadline passed once the guest's code had
 * begun: `--timeout` is the whole run's, and on a machine busy enough the
 * read and the load outlast it (the report then says "while reading" or
 * "while loading"). Fails if none of them got that far.
 *
 * @param run Runs the command line with the given `--timeout` flag.
 * @param began Whether this run's guest code began before its deadline.
 * @returns The first run that began, and the timeout it was given.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { runMainHere, untilTheGuestRuns } from "./cli.ts";
 *
 * const { run } = await untilTheGuestRuns(
 *   (timeout) =>
 *     runMainHere(["guest/runaway.wasm", "--invoke=spin", timeout, "--json"]),
 *   (run) => JSON.parse(run.stdout).fuel !== undefined,
 * );
 * assert.equal(JSON.parse(run.stdout).outcome, "timeout");
 * ```
 */
export async function untilTheGuestRuns(
  run: (timeoutFlag: string) => Promise<Finished>,
  began: (run: Finished) => boolean,
): Promise<{ run: Finished; timeout: number }> {
  for (let timeout = 100;; timeout *= 4) {
    const finished = await run(`--timeout=${timeout}`);
    if (began(finished)) return { run: finished, timeout };
    assert.match(finished.stdout, /while (reading|loading)/, finished.stderr);
    assert.ok(timeout < 5_000, `the guest never began within ${timeout} ms`);
  }
}

/**
 * Runs the command line in this process: `main` from `main.ts` with
 * `args`, what it writes to the console captured as the process's stdout
 * and stderr, and its status as the exit code. A `deno run main.ts` costs
 * half a second of CPU time to start, which a test of many messages pays
 * for each; {@linkcode sameAsProcess} shows that a case gives here what it
 * gives as a process. Not for what only a process shows: permissions,
 * signals, stdin, the runtime's own warnings.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { runMainHere } from "./cli.ts";
 *
 * const run = await runMainHere(["--bogus"]);
 * assert.equal(run.code, 2);
 * assert.match(run.stderr, /^error: unknown option --bogus/);
 * ```
 */
export async function runMainHere(args: string[]): Promise<Finished> {
  const { main } = await import("../../main.ts");
  const stdout: string[] = [];
  const stderr: string[] = [];
  const text = (data: unknown[]) =>
    data.map((item) =>
      typeof item === "string" ? item : Deno.inspect(item, { colors: false })
    ).join(" ") + "\n";
  const { log, error } = console;
  console.log = (...data: unknown[]) => stdout.push(text(data));
  console.error = (...data: unknown[]) => stderr.push(text(data));
  let code: number;
  try {
    code = await main(args);
  } finally {
    console.log = log;
    console.error = error;
  }
  return {
    code,
    signal: null,
    stdout: stdout.join(""),
    stderr: stderr.join(""),
  };
}

/**
 * Runs `deno run --allow-read main.ts <args>` and {@linkcode runMainHere}
 * with the same arguments, asserts that they exit alike and print the same,
 * and returns what they printed: the proof, for a test that runs its other
 * cases in this process, that this process answers as `main.ts` does.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { sameAsProcess } from "./cli.ts";
 *
 * const run = await sameAsProcess(["--json", "--bogus"]);
 * assert.equal(JSON.parse(run.stdout).outcome, "usage_error");
 * ```
 */
export async function sameAsProcess(args: string[]): Promise<Finished> {
  const process = await runMain(["--allow-read"], args);
  const here = await runMainHere(args);
  const shown = (run: Finished) =>
    JSON.stringify({ code: run.code, stdout: run.stdout, stderr: run.stderr });
  if (shown(process) !== shown(here)) {
    throw new Error(
      `main.ts ${args.join(" ")}: in this process it gave ${
        shown(here)
      }, as a process ${shown(process)}`,
    );
  }
  return process;
}
