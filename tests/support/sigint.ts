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

/** How a CLI run that was sent Ctrl-C ended. */
export interface CtrlCRun {
  /** The exit status. */
  code: number;
  stdout: string;
  stderr: string;
  /** Milliseconds from the key press to the exit. */
  tookMs: number;
}

/**
 * Runs `deno run --allow-read main.ts <args>` from the repository root,
 * presses Ctrl-C once the program listens for it, and says how it ended.
 * Fails the test if the program ends without ever listening.
 *
 * @param args The command line's arguments.
 * @param signal What to send in place of Ctrl-C, such as SIGTERM (which
 *   the program listens for before SIGINT).
 * @returns The exit status, the output, and how long the exit took.
 */
export async function pressCtrlC(
  args: string[],
  signal: Deno.Signal = "SIGINT",
): Promise<CtrlCRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      `--preload=${SIGINT_PRELOAD}`,
      "main.ts",
      ...args,
    ],
    cwd: new URL("../../", import.meta.url),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stdout = new Response(child.stdout).text();
  const stderr = await waitForListener(child.stderr);
  if (!stderr.ready) {
    const { code } = await child.status;
    throw new Error(
      `it exited (${code}) without listening for SIGINT: ${stderr.before}`,
    );
  }
  const pressed = performance.now();
  child.kill(signal);
  const { code } = await child.status;
  const tookMs = performance.now() - pressed;
  return { code, stdout: await stdout, stderr: await stderr.rest, tookMs };
}
