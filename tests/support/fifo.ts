/** Named pipes for tests: a guest path, or a cache entry, that is no file. */

import assert from "./assert.ts";
import { withDirectory } from "./temp_directory.ts";

/**
 * Makes a FIFO at `path` with `mkfifo`, which Deno has no call for.
 *
 * @param path Where.
 */
export async function makeFifo(path: string): Promise<void> {
  const { success, stderr } = await new Deno.Command("mkfifo", {
    args: [path],
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
}

/**
 * Runs `fn` with a FIFO named `guest.wasm` in a fresh temporary directory
 * (also given, for permissions and scripts beside it), removed after.
 *
 * @param fn What to do with the FIFO's path and its directory.
 */
export function withGuestFifo(
  fn: (fifo: string, directory: string) => Promise<void>,
): Promise<void> {
  return withDirectory(async (directory) => {
    const fifo = `${directory}/guest.wasm`;
    await makeFifo(fifo);
    await fn(fifo, directory);
  });
}
