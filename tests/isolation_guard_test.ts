/**
 * An isolated child never outlives its host: the host keeps the child's
 * stdin open for the call, and the child's guard kills the child when it
 * closes. These tests end a host that is running an isolated call of a guest
 * spinning for ever (no deadline, so only the guard can end it) in every way
 * a host can go, and then watch the child die; they also drive a child
 * directly through its stdin.
 *
 * Processes are asked of procps' `ps`, so the tests run on Linux. A child whose
 * host died is adopted by another process, which may not reap it at once:
 * a zombie counts as dead.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { invokeIsolated } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import {
  type IsolatedRequest,
  LOADED_MARK,
} from "../src/isolate/isolate_wire.ts";
import { startIsolatedChild } from "./support/isolated_child.ts";

/** Longer than any wait these tests make: a hang. */
const HANG_MS = 120_000;
const LINUX = Deno.build.os === "linux";
const HOST = new URL("./support/isolated_host.ts", import.meta.url).pathname;

/** `run` calls `host.spinning`, then loops for ever. */
const SPIN = await assembleWat(`(module
  (import "host" "spinning" (func $spinning))
  (func (export "run") (call $spinning) (loop $l (br $l))))`);

/** What `ps` says of a process. */
interface ProcessStat {
  /** `R` running, `S` sleeping, `Z` zombie (dead, not yet reaped), ... */
  state: string;
  parent: number;
  /** When it started: tells a reused pid apart. */
  started: string;
}

async function stat(pid: number): Promise<ProcessStat | undefined> {
  const { code, stdout } = await new Deno.Command("ps", {
    args: ["-o", "stat=,ppid=,lstart=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const [state, parent, ...started] = new TextDecoder()
    .decode(stdout).trim().split(/\s+/);
  if (code !== 0 || state === "") return undefined;
  return {
    state: state[0],
    parent: Number(parent),
    started: started.join(" "),
  };
}

/** Whether the process that was `first` is dead: gone, a zombie, or its pid reused. */
async function dead(pid: number, first: ProcessStat): Promise<boolean> {
  const now = await stat(pid);
  return now === undefined || now.started !== first.started ||
    now.state === "Z" || now.state === "X";
}

/** Waits until the process is dead, or fails after {@linkcode HANG_MS}. */
async function died(pid: number, first: ProcessStat, what: string) {
  const giveUp = performance.now() + HANG_MS;
  while (!await dead(pid, first)) {
    assert.ok(performance.now() < giveUp, `${what}: the child still runs`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * An imports module whose `host.spinning` adds the line `<pid>;` to
 * `pidFile`, after `prelude`.
 */
async function spinningImports(
  dir: string,
  pidFile: string,
  prelude = "",
): Promise<string> {
  const path = `${dir}/imports.ts`;
  await Deno.writeTextFile(
    path,
    `${prelude}
    export default { host: { spinning() {
      Deno.writeTextFileSync(${JSON.stringify(pidFile)}, Deno.pid + ";\\n", {
        append: true,
      });
    } } };\n`,
  );
  return new URL(`file://${path}`).href;
}

/** The pids in `pidFile`, of the guests that have started spinning. */
async function spinningPids(pidFile: string): Promise<number[]> {
  const text = await Deno.readTextFile(pidFile).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  });
  return text.split("\n").filter((line) => line.endsWith(";"))
    .map((line) => Number(line.slice(0, -1)));
}

/** Reads lines of `stream` until one starts with `prefix`; the rest is left unread. */
async function lineStarting(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
): Promise<string | undefined> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    for (;;) {
      const line = text.split("\n").find((l) => l.startsWith(prefix));
      if (line !== undefined && text.includes(`${line}\n`)) return line;
      const { value, done } = await reader.read();
      if (done) return undefined;
      text += value;
    }
  } finally {
    await reader.cancel();
  }
}

/** An imports module's first lines, doing something with the child's stdin. */
const PRELUDES = {
  "": "",
  "an imports module that closes stdin": "Deno.stdin.close();",
  "an imports module that reads stdin":
    "Deno.stdin.read(new Uint8Array(1)).then(() => {}, () => {});",
};

interface HostEnd {
  /** How the test ends the host, or `exit` when the host exits itself. */
  how: "SIGKILL" | "SIGINT" | "exit";
  prelude: keyof typeof PRELUDES;
  /** How many isolated calls the host runs at once. */
  calls: number;
}

const HOST_ENDS: HostEnd[] = [
  { how: "SIGKILL", prelude: "", calls: 1 },
  { how: "SIGKILL", prelude: "an imports module that closes stdin", calls: 1 },
  { how: "SIGKILL", prelude: "an imports module that reads stdin", calls: 1 },
  // Each child must hold no other child's stdin open.
  { how: "SIGKILL", prelude: "", calls: 3 },
  // What Ctrl-C at a terminal sends, here to the host alone.
  { how: "SIGINT", prelude: "", calls: 1 },
  { how: "exit", prelude: "", calls: 1 },
];

for (const { how, prelude, calls } of HOST_ENDS) {
  const ending = how === "exit" ? "calls Deno.exit()" : `dies of ${how}`;
  const running = calls === 1 ? "an isolated call" : `${calls} isolated calls`;
  Deno.test({
    name:
      `isolation: when a host with ${running} running ${ending}, the children die${
        prelude === "" ? "" : ` (${prelude})`
      }`,
    ignore: !LINUX,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "isolation-guard" });
      try {
        const pidFile = `${dir}/pid`;
        const imports = await spinningImports(dir, pidFile, PRELUDES[prelude]);
        const guest = `${dir}/spin.wasm`;
        await Deno.writeFile(guest, SPIN);
        const host = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--no-prompt",
            "--allow-read",
            "--allow-write",
            "--allow-run",
            HOST,
            guest,
            imports,
            pidFile,
            String(calls),
            how === "exit" ? "exit" : "wait",
          ],
          stdin: "piped",
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        const line = await lineStarting(host.stdout, "children ");
        assert.ok(line !== undefined, "the host never saw its guests spin");
        const pids = line.split(" ").slice(1).map(Number);
        assert.equal(new Set(pids).size, calls);
        const firsts = await Promise.all(pids.map(stat));
        for (const [i, first] of firsts.entries()) {
          // Each guest spins in a child of the host.
          assert.ok(
            first !== undefined && !await dead(pids[i], first),
            "no child",
          );
          if (how !== "exit") {
            assert.equal(first.parent, host.pid);
          }
        }
        if (how === "exit") {
          const writer = host.stdin.getWriter();
          await writer.write(new Uint8Array([0x0a]));
          await writer.close();
        } else {
          host.kill(how);
          await host.stdin.close();
        }
        const status = await host.status;
        if (how === "exit") assert.equal(status.code, 0);
        else assert.equal(status.signal, how);
        for (const [i, first] of firsts.entries()) {
          await died(pids[i], first!, `host ${ending}`);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

/** A child of isolation mode started by hand, its stdin left to the test. */
function startChild(pidFile: string): Deno.ChildProcess {
  return startIsolatedChild(["--allow-read", `--allow-write=${pidFile}`]);
}

function requestBytes(
  request: Omit<IsolatedRequest, "answerTag" | "label">,
): Uint8Array {
  const wire: IsolatedRequest = {
    ...request,
    label: "spin.wasm",
    answerTag: "answer: ",
  };
  return new TextEncoder().encode(`${JSON.stringify(wire)}\n`);
}

Deno.test({
  name:
    "isolation: the guard kills its child when stdin closes, while the guest spins",
  ignore: !LINUX,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "isolation-guard" });
    try {
      const pidFile = `${dir}/pid`;
      const imports = await spinningImports(dir, pidFile);
      const child = startChild(pidFile);
      const output = child.output();
      const writer = child.stdin.getWriter();
      await writer.write(requestBytes({
        export: "run",
        args: [],
        imports,
        moduleBytes: SPIN.length,
      }));
      await writer.write(SPIN);
      const giveUp = performance.now() + HANG_MS;
      let spinning: ProcessStat | undefined;
      while (spinning === undefined) {
        assert.ok(performance.now() < giveUp, "the guest never started");
        await new Promise((resolve) => setTimeout(resolve, 10));
        const [pid] = await spinningPids(pidFile);
        if (pid !== undefined) spinning = await stat(pid);
      }
      // Open stdin keeps the spinning child alive; closed, it dies.
      assert.equal(spinning.state, "R");
      await writer.close();
      const { signal, stdout } = await output;
      assert.equal(signal, "SIGKILL");
      // No answer: only the mark that the guest has loaded.
      const tagged = new TextDecoder().decode(stdout).split("\n")
        .filter((line) => line.startsWith("answer: "));
      assert.deepEqual(tagged, [`answer: ${LOADED_MARK}`]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "isolation: a request cut short kills the child before any guest runs",
  ignore: !LINUX,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "isolation-guard" });
    try {
      const pidFile = `${dir}/pid`;
      const imports = await spinningImports(dir, pidFile);
      const cuts = [
        (request: Uint8Array) => request.subarray(0, 10),
        (request: Uint8Array) => request,
        (request: Uint8Array) =>
          new Uint8Array([...request, ...SPIN.subarray(0, SPIN.length - 1)]),
      ];
      for (const cut of cuts) {
        const child = startChild(pidFile);
        const output = child.output();
        const writer = child.stdin.getWriter();
        const request = requestBytes({
          export: "run",
          args: [],
          imports,
          moduleBytes: SPIN.length,
        });
        await writer.write(cut(request)).catch(() => {});
        await writer.close().catch(() => {});
        const { signal, stdout } = await output;
        assert.equal(signal, "SIGKILL");
        assert.equal(new TextDecoder().decode(stdout), "");
        // The guest never ran.
        await assert.rejects(Deno.stat(pidFile), Deno.errors.NotFound);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("isolation: an imports module that closes or reads the child's stdin does not end the call", async () => {
  const dir = await Deno.makeTempDir({ prefix: "isolation-guard" });
  try {
    const bytes = await assembleWat(
      `(module (import "host" "spinning" (func $spinning))
        (func (export "run") (result i32) (call $spinning) (i32.const 7)))`,
    );
    for (const prelude of Object.values(PRELUDES)) {
      const pidFile = `${dir}/pid`;
      const imports = await spinningImports(dir, pidFile, prelude);
      const result = await invokeIsolated(bytes, "run", [], {
        imports,
        permissions: { write: [pidFile] },
        timeout: HANG_MS,
      });
      assert.equal(expectOutcome(result, "returned").value, 7, prelude);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("isolation: the child kills itself at its deadline, while the host's thread is held up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "isolation-guard" });
  try {
    const tickFile = `${dir}/ticks`;
    const imports = `${dir}/imports.ts`;
    // The guest notes the time (at most every 10 ms) for as long as it runs.
    await Deno.writeTextFile(
      imports,
      `let last = 0;
      export default { host: { tick() {
        const now = Date.now();
        if (now - last < 10) return;
        last = now;
        Deno.writeTextFileSync(${JSON.stringify(tickFile)}, String(now));
      } } };\n`,
    );
    const bytes = await assembleWat(
      `(module (import "host" "tick" (func $tick))
        (func (export "run") (loop $l (call $tick) (br $l))))`,
    );
    // On a loaded machine the child may take longer than the deadline to
    // start; the call then times out before the guest runs, and it is tried
    // again with a longer one. (The child runs 10 nice levels below this
    // process: beside four busy processes on two cores it took over 16 s
    // to start and load the guest.)
    for (const timeout of [1_000, 4_000, 16_000, 64_000]) {
      const started = Date.now();
      let settled = false;
      const call = invokeIsolated(bytes, "run", [], {
        imports: new URL(`file://${imports}`),
        permissions: { write: [tickFile] },
        timeout,
      }).finally(() => settled = true);
      const ticked = () => Deno.stat(tickFile).then(() => true, () => false);
      while (!settled && !await ticked()) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (!await ticked()) {
        expectOutcome(await call, "timeout");
        continue;
      }
      // The guest runs: this thread stays busy until well past the
      // deadline. No timer of the host's can fire, and only the child's
      // guard can stop the guest on time.
      const sleeper = new Int32Array(new SharedArrayBuffer(4));
      const freed = started + timeout + 2_500;
      for (let rest = freed - Date.now(); rest > 0; rest = freed - Date.now()) {
        Atomics.wait(sleeper, 0, 0, rest);
      }
      const result = await call;
      assert.equal(expectOutcome(result, "timeout").outcome, "timeout");
      const lastTick = Number(await Deno.readTextFile(tickFile));
      // A guest stopped only once this thread is free ticks until then (at
      // most 10 ms apart); the guard's stop may be 2.2 s late, as a child a
      // busy machine pauses for a second or two would be.
      assert.ok(
        lastTick < freed - 300,
        `the guest ran until ${
          lastTick - started
        } ms, its deadline was ${timeout} ms, and the host's thread was held until ${
          freed - started
        } ms`,
      );
      return;
    }
    assert.fail("the child never ran the guest before its deadline");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
