/**
 * Lets a test press Ctrl-C on a CLI run only once the program listens for it,
 * however slowly the program started: run it with
 * `--preload=${SIGINT_PRELOAD}` and wait for {@link READY_LINE} on stderr.
 */

/** What the preloaded module writes on stderr once a SIGINT listener is in place. */
export const READY_LINE = "SIGINT listener";

/** The module to preload: it announces each SIGINT listener the program adds. */
export const SIGINT_PRELOAD =
  new URL("./sigint_preload.ts", import.meta.url).pathname;

/**
 * Reads `stream` until {@link READY_LINE}; the rest is read in the
 * background (so that the program never blocks on a full pipe) and returned
 * as `rest`.
 */
export async function waitForListener(
  stream: ReadableStream<Uint8Array>,
): Promise<{ ready: boolean; before: string; rest: Promise<string> }> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let before = "";
  while (!before.includes(READY_LINE)) {
    const { value, done } = await reader.read();
    if (done) {
      return { ready: false, before, rest: Promise.resolve("") };
    }
    before += value;
  }
  const rest = (async () => {
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      text += r.value;
    }
    return text;
  })();
  return { ready: true, before, rest };
}
