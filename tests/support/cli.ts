/** Runs the CLI, or any Deno program, as a subprocess and captures what it printed. */

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
