/**
 * `FuelMeter#attach` of an instance made with another meter's imports (two
 * meters over one library, the glue handed the wrong one's): the instance
 * reads the other meter's stop flag, which no deadline or StopSignal of
 * this meter sets, so a run of it would never stop. `attach` tells it by
 * the flag memory the instance exports, and refuses it in one line.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { FuelMeter, type FuelMeterOptions } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { createMemories } from "./support/stop_flag.ts";
import { instrument } from "../src/wasm/mod.ts";

const SPIN = await wat(`(module
  (memory (export "memory") 1)
  (func (export "spin") (loop $l (br $l))))`);

const MODES: [string, FuelMeterOptions][] = [
  ["metered", {}],
  ["deadline-only", { fuel: false }],
];

const REFUSED = /the instance was not made with this meter's imports/;

for (const [mode, options] of MODES) {
  Deno.test(`${mode}: attach refuses an instance made with another meter's imports`, async () => {
    const mine = new FuelMeter(SPIN, options);
    const other = new FuelMeter(SPIN, options);
    const { instance } = await WebAssembly.instantiate(other.bytes, {
      ...other.imports,
    });
    assert.throws(
      () => mine.attach(instance),
      (error: Error) =>
        error instanceof TypeError && REFUSED.test(error.message) &&
        !error.message.includes("\n"),
    );
    assert.throws(() => mine.attach(instance.exports), REFUSED);
    // It still belongs to the meter whose imports made it.
    other.attach(instance);
    const spin = instance.exports.spin as () => void;
    assert.equal(other.run(spin, { timeout: 30 }).outcome, "timeout");
  });

  Deno.test(`${mode}: attach refuses an instance given a flag memory of the caller's own`, async () => {
    const meter = new FuelMeter(SPIN, options);
    const given = meter.imports["early-exit"] as Record<string, unknown>;
    const imports = {
      "early-exit": {
        ...given,
        stop_flag: new WebAssembly.Memory({
          initial: 1,
          maximum: 1,
          shared: true,
        }),
      },
    };
    const { instance } = await WebAssembly.instantiate(meter.bytes, imports);
    assert.throws(() => meter.attach(instance), REFUSED);
  });

  Deno.test(`${mode}: an instance made with the meter's own imports attaches and its deadline lands`, async () => {
    const meter = new FuelMeter(SPIN, options);
    for (let round = 0; round < 2; round++) {
      const { instance } = await WebAssembly.instantiate(meter.bytes, {
        ...meter.imports,
      });
      meter.attach(instance);
      meter.attach(instance);
      const spin = instance.exports.spin as () => void;
      assert.equal(meter.run(spin, { timeout: 30 }).outcome, "timeout");
    }
  });
}

Deno.test("instrument's exportStopFlag exports the very flag memory an instance is given, and needs stopFlag", async () => {
  const metered = instrument(SPIN, { stopFlag: true, exportStopFlag: true });
  const flag = metered.stopFlag!;
  assert.equal(flag.export, "early-exit:stop_flag");
  const memories = createMemories(metered);
  const { instance } = await WebAssembly.instantiate(metered.bytes, {
    [metered.importModule]: {
      ...memories,
      [metered.importName]: () => -1n,
      [flag.callback]: () => 1,
    },
  });
  assert.equal(instance.exports[flag.export!], memories[flag.memory]);
  assert.equal(
    instrument(SPIN, { stopFlag: true }).stopFlag!.export,
    undefined,
  );
  assert.throws(
    () => instrument(SPIN, { exportStopFlag: true }),
    /Cannot use exportStopFlag without stopFlag: true/,
  );
});
