/**
 * One-shot WASI commands: the CPU time of a fresh process that runs the C
 * sieve-and-qsort guest once, metered (`runWasi`) against plain
 * (`node:wasi`), with V8's defaults and with optimised code asked for up
 * front (`--no-liftoff --no-wasm-lazy-compilation`). A command's hot loop
 * is entered once, and V8 never moves a running wasm function up a tier,
 * so by default it runs in the baseline compiler, where checks cost most.
 */
import { median, printTable } from "./harness.ts";

const GUEST = new URL("../guest/wasi/sieve.wasm", import.meta.url).pathname;
const CHILD = new URL("./wasi_child.ts", import.meta.url).pathname;
const ARGS = ["10000000"];
const RUNS = 3;

const FLAGS = {
  "default": [],
  "--no-liftoff --no-wasm-lazy-compilation": [
    "--v8-flags=--no-liftoff,--no-wasm-lazy-compilation",
  ],
};

async function runOnce(
  mode: string,
  flags: string[],
): Promise<{ total: number; load: number }> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", ...flags, CHILD, mode, GUEST, ...ARGS],
  }).output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

/** Prints the rows. */
export async function benchWasi(): Promise<void> {
  console.log(
    `\nWASI command, one fresh process per run (guest/wasi/sieve.wasm ${
      ARGS.join(" ")
    }), CPU ms, median of ${RUNS}`,
  );
  const rows: string[][] = [];
  for (const [name, flags] of Object.entries(FLAGS)) {
    const plain: number[] = [];
    const plainLoad: number[] = [];
    const metered: number[] = [];
    const meteredLoad: number[] = [];
    const meteredSync: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const p = await runOnce("plain", flags);
      plain.push(p.total);
      plainLoad.push(p.load);
      metered.push((await runOnce("metered", flags)).total);
      meteredLoad.push((await runOnce("metered-load", flags)).load);
      meteredSync.push((await runOnce("metered-sync", flags)).total);
    }
    rows.push([
      name,
      median(plainLoad).toFixed(0),
      median(meteredLoad).toFixed(0),
      median(plain).toFixed(0),
      median(metered).toFixed(0),
      (median(metered) / median(plain)).toFixed(2),
      ((median(metered) - median(meteredLoad)) /
        (median(plain) - median(plainLoad))).toFixed(2),
      (median(meteredSync) / median(plain)).toFixed(2),
    ]);
  }
  printTable(
    [
      "V8 flags",
      "load plain",
      "load metered",
      "plain",
      "metered",
      "metered/plain",
      "after load",
      "sync/plain",
    ],
    rows,
  );
}

if (import.meta.main) await benchWasi();
