import assert from "./support/assert.ts";
import { invokeIsolated, isolatedChildrenExited } from "../mod.ts";
import { childCommand } from "../src/isolate/isolate_spawn.ts";
import { COMPUTE, RUNAWAY } from "./support/guests.ts";

/** Whether `program` with `args` runs here and succeeds. */
async function works(program: string, args: string[]): Promise<boolean> {
  try {
    const probe = await new Deno.Command(program, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return probe.success;
  } catch {
    return false;
  }
}

/** Whether `taskset` can keep a process off the first CPU here. */
function tasksetWorks(): Promise<boolean> {
  return works("taskset", ["-c", "1-1023", "true"]);
}

Deno.test("an isolated child runs off one of the host's CPUs where taskset can do it, and its calls still end as they should", async () => {
  // The first call asks taskset, in the background; later ones use it.
  const first = await invokeIsolated(COMPUTE, "fib", [10], { timeout: 60_000 });
  assert.equal(first.outcome === "returned" && first.value, 55);
  await isolatedChildrenExited();
  const [program, args] = childCommand(["run", "child.ts"]);
  const expected = navigator.hardwareConcurrency >= 2 && await tasksetWorks();
  assert.equal(program === "taskset", expected, `${program} ${args.join(" ")}`);
  assert.deepEqual(args.slice(-3), [Deno.execPath(), "run", "child.ts"]);
  if (expected) assert.deepEqual(args.slice(0, 2), ["-c", "1-1023"]);
  const second = await invokeIsolated(COMPUTE, "fib", [10], {
    timeout: 60_000,
  });
  assert.equal(second.outcome === "returned" && second.value, 55);
  const stopped = await invokeIsolated(RUNAWAY, "spin", [], { timeout: 100 });
  assert.equal(stopped.outcome, "timeout");
  await isolatedChildrenExited();
});

Deno.test("an isolated child is the OOM killer's first choice where choom can mark it", async () => {
  // The first call asks choom, in the background; later ones use it.
  const first = await invokeIsolated(COMPUTE, "fib", [10], { timeout: 60_000 });
  assert.equal(first.outcome === "returned" && first.value, 55);
  await isolatedChildrenExited();
  const [program, args] = childCommand(["run", "child.ts"]);
  const wrappers = [program, ...args.slice(0, -3)];
  const expected = await works("choom", ["-n", "1000", "--", "true"]);
  assert.equal(wrappers.includes("choom"), expected, wrappers.join(" "));
  if (!expected) return;
  // The same wrappers around a program that reports the score it got.
  const read = await new Deno.Command(wrappers[0]!, {
    args: [...wrappers.slice(1), "cat", "/proc/self/oom_score_adj"],
    stderr: "inherit",
  }).output();
  assert.equal(new TextDecoder().decode(read.stdout).trim(), "1000");
});
