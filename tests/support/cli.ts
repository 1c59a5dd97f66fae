/** Runs the CLI, or any Deno program, as a subprocess and captures what it printed. */

export const REPO_ROOT = new URL("../../", import.meta.url);

/** What a finished subprocess printed. */
export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno <args>` from the repository root with no TTY on stdin, so that
 * Deno never prompts for a permission.
 */
export async function runDeno(
  args: string[],
  cwd: URL | string = REPO_ROOT,
): Promise<Finished> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
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
