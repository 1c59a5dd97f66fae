/**
 * A fresh process's first stoppable load starts the watchdog's thread: a
 * stop that falls meanwhile, or while the load waits for the thread, ends
 * the load with its branded error, and the start function never runs.
 */
import assert from "./support/assert.ts";

const CHILD = new URL("./support/first_load_child.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url).pathname;

async function firstLoad(
  kind: string,
): Promise<{ ended: string; entered: boolean }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", `--allow-read=${ROOT}`, CHILD.pathname, kind],
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(code, 0, decode(stderr));
  return JSON.parse(decode(stdout).trim());
}

Deno.test("a timed-out signal that falls as the first load starts the watchdog rejects with DeadlineExceeded, and the start function never runs", async () => {
  assert.deepEqual(await firstLoad("deadline"), {
    ended: "DeadlineExceeded",
    entered: false,
  });
});

Deno.test("an abort that comes as the first load starts the watchdog rejects with Aborted, and the start function never runs", async () => {
  assert.deepEqual(await firstLoad("abort"), {
    ended: "Aborted",
    entered: false,
  });
});

Deno.test("a StopSignal set as the first load starts the watchdog rejects with Aborted, and the start function never runs", async () => {
  assert.deepEqual(await firstLoad("stop"), {
    ended: "Aborted",
    entered: false,
  });
});

Deno.test("a StopSignal set while the first load builds the imports rejects with Aborted, and the start function never runs", async () => {
  assert.deepEqual(await firstLoad("imports"), {
    ended: "Aborted",
    entered: false,
  });
});
