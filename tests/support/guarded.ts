/** Runs Deno programs that must not hang a test run if they do hang. */
import { type Finished, REPO_ROOT } from "./cli.ts";

/** How long a guarded program may run before it is killed. */
export const GUARD_MS = 60_000;

/**
 * Runs `deno <args>` from the repository root like `runDeno`, but kills it
 * after {@linkcode GUARD_MS}, so that a hang fails the test.
 */
export async function runGuarded(args: string[]): Promise<Finished> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(GUARD_MS),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
