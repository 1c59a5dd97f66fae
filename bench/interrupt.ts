/**
 * The interrupt round trip: a call into the guest, the host import throwing,
 * the catch, with the branded error in hand; against the cheapest throw
 * through the same wasm frame: the same module, instantiated bare, its
 * import throwing an Error made once beforehand, caught by a `try`. (An
 * Error built per throw would capture a stack, which costs several times
 * the whole round trip, and would flatter the ratio.)
 */
import { isInterrupted, loadGuest } from "../mod.ts";
import {
  compareTimes,
  formatNs,
  INSTANCES,
  overInstances,
  printTable,
} from "./harness.ts";

const SEED = new URL("../guest/early_exit_guest.wasm", import.meta.url);

/** Runs the interrupt benchmark and prints its table. */
export async function benchInterrupt(): Promise<void> {
  const bytes = await Deno.readFile(SEED);
  const module = new WebAssembly.Module(bytes);
  let sink = 0;
  const cases: Record<string, () => void> = {};
  for (let i = 0; i < INSTANCES; i++) {
    const guest = await loadGuest(bytes);
    const prepared = new Error("prepared");
    const bare = new WebAssembly.Instance(module, {
      env: {
        interrupt_execution: () => {
          throw prepared;
        },
      },
    });
    const run = bare.exports.exit_early as () => number;
    cases[`early-exit ${i}`] = () => {
      const result = guest.invoke("exit_early");
      if (result.outcome === "interrupted" && isInterrupted(result.error)) {
        sink++;
      }
    };
    cases[`prepared ${i}`] = () => {
      try {
        run();
      } catch (error) {
        if (error === prepared) sink++;
      }
    };
  }
  const times = compareTimes(cases, { rounds: 9, roundMs: 20 });
  const ours = {
    wall: overInstances(times.wall, "early-exit"),
    cpu: overInstances(times.cpu, "early-exit"),
  };
  const bare = {
    wall: overInstances(times.wall, "prepared"),
    cpu: overInstances(times.cpu, "prepared"),
  };
  if (sink === 0) throw new Error("benchmark did nothing");
  console.log(
    "\n## Interrupt round trip (target: <= 2x a prepared throw)\n",
  );
  console.log(
    'early-exit: guest.invoke("exit_early") on guest/early_exit_guest.wasm, the import stops it, the outcome holds an Interrupted.',
  );
  console.log(
    "prepared throw: the same module instantiated bare, its import throwing one Error made beforehand, caught around the export.",
  );
  console.log(
    `Each side ${INSTANCES} instances, interleaved rounds, medians; the process's CPU time per call beside wall time.\n`,
  );
  printTable(["case", "wall per call", "CPU per call"], [
    [
      "early-exit interrupt round trip",
      formatNs(ours.wall),
      formatNs(ours.cpu),
    ],
    [
      "prepared Error thrown through the same frame",
      formatNs(bare.wall),
      formatNs(bare.cpu),
    ],
    [
      "ratio",
      (ours.wall / bare.wall).toFixed(2),
      (ours.cpu / bare.cpu).toFixed(2),
    ],
  ]);
}
