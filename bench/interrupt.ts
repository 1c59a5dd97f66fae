/**
 * The interrupt round trip: a call into the guest, the host import throwing,
 * the catch, with the branded error in hand; against a bare
 * `throw new Error()` from a JS import through one wasm frame.
 */
import { isInterrupted, loadGuest } from "../mod.ts";
import { compare, formatNs, printTable } from "./harness.ts";

/** A module whose export calls one import, as the seed guest does. */
const BARE_MODULE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // preamble
  0x01,
  0x04,
  0x01,
  0x60,
  0x00,
  0x00, // type 0: () -> ()
  0x02,
  0x09,
  0x01,
  0x03,
  0x65,
  0x6e,
  0x76,
  0x01,
  0x66,
  0x00,
  0x00, // import env.f
  0x03,
  0x02,
  0x01,
  0x00, // function 1: type 0
  0x07,
  0x07,
  0x01,
  0x03,
  0x72,
  0x75,
  0x6e,
  0x00,
  0x01, // export "run"
  0x0a,
  0x06,
  0x01,
  0x04,
  0x00,
  0x10,
  0x00,
  0x0b, // body: call 0
]);

/** Runs the interrupt benchmark and prints its table. */
export async function benchInterrupt(): Promise<void> {
  const guest = await loadGuest(
    new URL("../guest/early_exit_guest.wasm", import.meta.url),
  );
  const bare = new WebAssembly.Instance(new WebAssembly.Module(BARE_MODULE), {
    env: {
      f: () => {
        throw new Error();
      },
    },
  });
  const run = bare.exports.run as () => void;
  let sink = 0;
  const times = compare({
    "early-exit interrupt round trip": () => {
      const result = guest.invoke("exit_early");
      if (result.outcome === "interrupted" && isInterrupted(result.error)) {
        sink++;
      }
    },
    "bare throw new Error() through one wasm frame": () => {
      try {
        run();
      } catch (error) {
        if (error instanceof Error) sink++;
      }
    },
  });
  if (sink === 0) throw new Error("benchmark did nothing");
  const [ours, bareTime] = Object.values(times);
  console.log("\n## Interrupt round trip (target: ratio <= 1.2)\n");
  printTable(
    ["case", "time per call"],
    Object.entries(times).map(([k, v]) => [k, formatNs(v)]),
  );
  console.log(
    `\nratio early-exit / bare throw: ${(ours / bareTime).toFixed(2)}`,
  );
}
