/**
 * Runs a child script in a fresh Deno process and reads its verdict: the
 * JSON on the last line of its stdout. A child that exits with another
 * code than 0 fails the test with its stderr as the message.
 */
import assert from "./assert.ts";

/**
 * @param child The script to run.
 * @param permissions Its permission flags, e.g. `["--allow-read"]`.
 * @param args Its arguments.
 * @returns The JSON value it printed last, typed as the caller expects it.
 */
export async function jsonFromChild<T = unknown>(
  child: URL,
  permissions: string[],
  args: string[] = [],
): Promise<T> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...permissions, child.pathname, ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(code, 0, decode(stderr));
  return JSON.parse(decode(stdout).trim().split("\n").at(-1)!) as T;
}
