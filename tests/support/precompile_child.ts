/**
 * A fresh process's first calls of a function dear to compile (1,024
 * `v128` locals and 40 `if`s), each in a guest of its own loaded to be
 * stopped: the first after the compile thread has compiled it ahead, the
 * second with that turned off. Prints, as JSON, how many functions the
 * thread called and the page faults of each first call on this thread
 * (the engine's compile of such a function faults in about 1.2 MB of
 * fresh memory, some 300 pages, every time; a compiled one none): counts,
 * which a busy machine does not change. With the argument `meter`, the
 * same for a `FuelMeter`'s module, which its own loader compiles, and the
 * fuel each meter counted.
 */
import { FuelMeter, loadGuest, prepareStops } from "../../mod.ts";
import { precompiled } from "../../src/load/precompile.ts";
import { refusePrecompile } from "../../src/meter/meter_precompile.ts";
import { meterPrecompiled } from "../../src/meter/meter_precompile.ts";
import { compileThreadUp } from "../../src/load/compile_thread.ts";
import { wat } from "./instrument.ts";

/** The page faults this thread has taken that needed no disk. */
function minorFaults(): number {
  const stat = Deno.readTextFileSync("/proc/thread-self/stat");
  // The fields after the command's name in parentheses: minflt is the 8th.
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
}

/** A guest whose `run` calls a function dear to compile, told apart by `k`. */
function dearGuest(k: number): Promise<Uint8Array> {
  // Its memory imported, as emscripten's guests import theirs.
  return wat(`(module (import "env" "memory" (memory 1 2))
    (func $dear (local $x i32) (local ${"v128 ".repeat(1_023)})
      ${
    `(if (local.get $x) (then (local.set $x (i32.const ${k})))) `.repeat(40)
  })
    (func (export "run") (call $dear)))`);
}

/**
 * A library's module, as a `FuelMeter` meters it: a start function, its
 * memory imported, and `run` calling a function dear to compile.
 */
function meteredGuest(k: number): Promise<Uint8Array> {
  return wat(`(module (import "env" "memory" (memory 1 2))
    (global $started (mut i32) (i32.const 0))
    (global $touched (export "touched") (mut i32) (i32.const 0))
    (func $dear (local $x i32) (local ${"v128 ".repeat(1_023)})
      (global.set $touched (i32.const 1))
      ${
    `(if (local.get $x) (then (local.set $x (i32.const ${k})))) `.repeat(40)
  })
    (func $start (global.set $started (i32.const 1)))
    (start $start)
    (func (export "run") (result i32) (call $dear) (global.get $started)))`);
}

await prepareStops();
// The loads compile ahead only on a thread that is up.
for (let waits = 0; !compileThreadUp() && waits < 2_000; waits++) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const faults: number[] = [];
const called: (number | undefined)[] = [];
if (Deno.args[0] === "meter") {
  const consumed: number[] = [];
  const touched: number[] = [];
  // As a library's loader does: the meter's bytes compiled and
  // instantiated by someone else, the instance attached.
  for (const ahead of [true, false]) {
    refusePrecompile(!ahead);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 });
    const meter = new FuelMeter(await meteredGuest(faults.length + 1));
    const { instance } = await WebAssembly.instantiate(meter.bytes, {
      ...meter.imports,
      env: { memory },
    });
    meter.attach(instance);
    called.push(meterPrecompiled(meter));
    // Compiled ahead, its body never ran on the library's instance.
    touched.push((instance.exports.touched as WebAssembly.Global).value);
    const run = instance.exports.run as () => number;
    const before = minorFaults();
    const outcome = meter.run(run, { timeout: 60_000 });
    faults.push(minorFaults() - before);
    if (outcome.outcome !== "returned" || outcome.value !== 1) {
      throw new Error(JSON.stringify(outcome));
    }
    consumed.push(meter.consumed);
  }
  console.log(JSON.stringify({ called, faults, consumed, touched }));
  Deno.exit(0);
}
for (const ahead of [true, false]) {
  refusePrecompile(!ahead);
  const guest = await loadGuest(await dearGuest(faults.length + 1), {
    fuel: false,
    interruptible: true,
    imports: {
      env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 2 }) },
    },
  });
  called.push(await precompiled(guest));
  const before = minorFaults();
  const outcome = guest.invoke("run", [], { timeout: 60_000 });
  faults.push(minorFaults() - before);
  if (outcome.outcome !== "returned") throw new Error(outcome.outcome);
}
console.log(JSON.stringify({ called, faults }));
