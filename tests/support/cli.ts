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
