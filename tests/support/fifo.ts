/** Named pipes for tests: a guest path, or a cache entry, that is no file. */

import assert from "./assert.ts";

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
