/** Runs Deno programs that must not hang a test run if they do hang. */
import { type Finished, runDeno } from "./cli.ts";

/** How long a guarded program may run before it is killed. */
export const GUARD_MS = 60_000;

/**
 * Runs `deno <args>` from the repository root like `runDeno`, but kills it
 * after {@linkcode GUARD_MS}, so that a hang fails the test.
 */
export function runGuarded(args: string[]): Promise<Finished> {
  return runDeno(args, { signal: AbortSignal.timeout(GUARD_MS) });
}
