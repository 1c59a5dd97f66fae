/**
 * Modules invalid only by an index one past the guest's last, where the
 * rewrite adds its own: the fuel counter's global, the flag memory, the
 * added functions and types. Rewritten without validation (as a metered or
 * stoppable load rewrites), each would name what early-exit added (a guest
 * setting its own fuel counter, or clearing its own stop flag) were the
 * index not checked against the guest's own; each stays refused.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  FuelMeter,
  type GuestOptions,
  isInvalidModule,
  loadGuest,
} from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { type Bytes, moduleOf, section } from "./support/module_bytes.ts";

const TYPE = section(1, [0x01, 0x60, 0x00, 0x00]);
const FUNCTION = section(3, [0x01, 0x00]);
const TABLE = section(4, [0x01, 0x70, 0x00, 0x01]);
const MEMORY = section(5, [0x01, 0x00, 0x01]);
/** `(export "run" (func 0))`. */
const RUN = section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]);

function code(body: number[]): number[] {
  const whole = [0x00, ...body, 0x0b];
  return section(10, [0x01, whole.length, ...whole]);
}

/** `(export "run" (func 0))` and `(export "x" (KIND INDEX))`. */
function exports(kind: number, index: number): number[] {
  return section(7, [
    0x02,
    ...[0x03, 0x72, 0x75, 0x6e, 0x00, 0x00],
    ...[0x01, 0x78, kind, index],
  ]);
}

const CASES: [string, Bytes][] = [
  [
    "global.set of the first global past the guest's",
    moduleOf(TYPE, FUNCTION, RUN, code([0x42, 0x00, 0x24, 0x00])),
  ],
  ["global.get of it", moduleOf(TYPE, FUNCTION, RUN, code([0x23, 0x00, 0x1a]))],
  ["an export of it", moduleOf(TYPE, FUNCTION, exports(0x03, 0), code([]))],
  [
    "a store to memory 1 of 1",
    moduleOf(
      TYPE,
      FUNCTION,
      MEMORY,
      RUN,
      code([0x41, 0x00, 0x41, 0x00, 0x36, 0x42, 0x01, 0x00]),
    ),
  ],
  [
    "an atomic store to it",
    moduleOf(
      TYPE,
      FUNCTION,
      MEMORY,
      RUN,
      code([0x41, 0x00, 0x41, 0x00, 0xfe, 0x17, 0x42, 0x01, 0x00]),
    ),
  ],
  [
    "memory.size of it",
    moduleOf(TYPE, FUNCTION, MEMORY, RUN, code([0x3f, 0x01, 0x1a])),
  ],
  [
    "memory.fill of it",
    moduleOf(
      TYPE,
      FUNCTION,
      MEMORY,
      RUN,
      code([0x41, 0x00, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x0b, 0x01]),
    ),
  ],
  [
    "memory.copy into it",
    moduleOf(
      TYPE,
      FUNCTION,
      MEMORY,
      RUN,
      code([0x41, 0x00, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x0a, 0x01, 0x00]),
    ),
  ],
  [
    "a data segment in it",
    moduleOf(
      TYPE,
      FUNCTION,
      MEMORY,
      RUN,
      section(11, [0x01, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x01, 0x55]),
      code([]),
    ),
  ],
  [
    "an export of it",
    moduleOf(TYPE, FUNCTION, MEMORY, exports(0x02, 1), code([])),
  ],
  [
    "a call of the first function past the guest's",
    moduleOf(TYPE, FUNCTION, RUN, code([0x10, 0x01])),
  ],
  ["a call of the second", moduleOf(TYPE, FUNCTION, RUN, code([0x10, 0x02]))],
  [
    "ref.func of the fourth",
    moduleOf(TYPE, FUNCTION, RUN, code([0xd2, 0x03, 0x1a])),
  ],
  [
    "an export of the first",
    moduleOf(TYPE, FUNCTION, exports(0x00, 1), code([])),
  ],
  [
    "call_indirect of the first type past the guest's",
    moduleOf(TYPE, FUNCTION, TABLE, RUN, code([0x41, 0x00, 0x11, 0x01, 0x00])),
  ],
  ["a block of it", moduleOf(TYPE, FUNCTION, RUN, code([0x02, 0x01, 0x0b]))],
];

const REWRITES = [
  { validate: false },
  { validate: false, stopFlag: true },
  { validate: false, stopFlag: true, fuel: false, stopFlagTraps: true },
  { validate: false, stopFlag: true, exportStopFlag: true },
];

const LOADS: GuestOptions[] = [
  { fuel: 1_000 },
  { timeout: 60_000 },
  { fuel: false },
  { async: true },
];

Deno.test("an index one past the guest's, where the rewrite adds its own, stays refused", async () => {
  for (const [what, bytes] of CASES) {
    assert.equal(WebAssembly.validate(bytes), false, what);
    for (const options of REWRITES) {
      assert.throws(() => instrument(bytes, options), isInvalidModule, what);
    }
    assert.throws(() => new FuelMeter(bytes), isInvalidModule, what);
    for (const options of LOADS) {
      await assert.rejects(loadGuest(bytes, options), isInvalidModule, what);
    }
  }
});
