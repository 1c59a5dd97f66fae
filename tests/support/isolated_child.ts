/**
 * An isolated call's child process started by hand, for tests that drive it
 * through its stdin as the host would.
 *
 * @module
 */

const CHILD =
  new URL("../../src/isolate/isolate_child.ts", import.meta.url).href;

/**
 * Starts the child with `permissions` (Deno's `--allow-*` flags), its stdin,
 * stdout and stderr piped, in an empty environment but `NO_COLOR`.
 */
export function startIsolatedChild(permissions: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", ...permissions, CHILD],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { NO_COLOR: "1" },
  }).spawn();
}
