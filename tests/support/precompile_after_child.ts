/**
 * The CPU time the process's other threads run in the 30 ms after each
 * stoppable load of a guest with a function dear to compile returns, the
 * loading thread idle meanwhile. Eight guests with a memory of their own
 * (whose stand-in instance on the compile thread allocates one) and eight
 * without. Prints `{ memory, none }`, the milliseconds after each load, as
 * JSON: CPU time, which a busy machine does not stretch.
 */
import { loadGuest, prepareStops } from "../../mod.ts";
import { compileThreadUp } from "../../src/load/compile_thread.ts";
import { precompiled } from "../../src/load/precompile.ts";
import { wat } from "./instrument.ts";

/** The CPU time of every thread of the process but this one, in ms. */
function otherThreadsCpuMs(): number {
  const self = Deno.readLinkSync("/proc/thread-self").split("/").pop();
  let sum = 0;
  for (const task of Deno.readDirSync("/proc/self/task")) {
    if (task.name === self) continue;
    try {
      const stat = Deno.readTextFileSync(
        `/proc/self/task/${task.name}/schedstat`,
      );
      sum += Number(stat.slice(0, stat.indexOf(" "))) / 1e6;
    } catch {
      // The thread ended.
    }
  }
  return sum;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A guest of its own bytes (`k`) whose `run` calls a dear function. */
function dearGuest(k: number, memory: boolean): Promise<Uint8Array> {
  return wat(`(module ${memory ? "(memory 16)" : ""}
    (func $dear (local $x i32) (local ${"v128 ".repeat(1_023)})
      ${
    `(if (local.get $x) (then (local.set $x (i32.const ${k})))) `.repeat(40)
  })
    (func (export "run") (call $dear)))`);
}

await prepareStops();
for (let waits = 0; !compileThreadUp() && waits < 2_000; waits++) {
  await pause(5);
}
const result: Record<"memory" | "none", number[]> = { memory: [], none: [] };
for (const kind of ["memory", "none"] as const) {
  const guests = await Promise.all(
    Array.from({ length: 8 }, (_, k) => dearGuest(k + 1, kind === "memory")),
  );
  for (const bytes of guests) {
    // What the assembling and the load before left is done first.
    await pause(30);
    const guest = await loadGuest(bytes, { fuel: false, interruptible: true });
    if (await precompiled(guest) !== 1) throw new Error("not compiled ahead");
    const before = otherThreadsCpuMs();
    await pause(30);
    result[kind].push(otherThreadsCpuMs() - before);
  }
}
console.log(JSON.stringify(result));
