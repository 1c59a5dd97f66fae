/**
 * The spec-suite runner's lanes: one plain run is shared by a metered run
 * per rewriter, and what one rewriter breaks fails its lane alone, while
 * another lane reports what it would running by itself.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  Assembler,
  type Rewriter,
  SpecRunner,
} from "./support/spectest/mod.ts";
import { instrument } from "../src/wasm/instrument.ts";

/**
 * A script whose plain run carries state from command to command: a
 * registered module, an import of it, and a global that an action changes.
 */
const SCRIPT = `
(module $M
  (global (export "g") (mut i32) (i32.const 1))
  (func (export "seven") (result i32) (i32.const 7))
  (func (export "inc") (global.set 0 (i32.add (global.get 0) (i32.const 1)))))
(register "M" $M)
(module
  (import "M" "seven" (func $seven (result i32)))
  (func (export "h") (result i32) (call $seven)))
(assert_return (invoke "h") (i32.const 7))
(invoke $M "inc")
(assert_return (get $M "g") (i32.const 2))
(assert_return (invoke $M "seven") (i32.const 7))
`;

const metered: Rewriter = (bytes) => instrument(bytes);

/** Meters modules after turning their `i32.const 7` into `i32.const 8`. */
const broken: Rewriter = (bytes) => {
  const changed = bytes.slice();
  for (let at = 0; at + 1 < changed.length; at++) {
    if (changed[at] === 0x41 && changed[at + 1] === 0x07) changed[at + 1] = 8;
  }
  return instrument(changed);
};

Deno.test("the spec runner's lanes share one plain run, and a rewriter that breaks a module fails its own lane alone", async () => {
  const assembler = await Assembler.create();
  const [good, bad] = await new SpecRunner({
    rewriters: [metered, broken],
    assembler,
  }).runFile("lanes", SCRIPT);
  const [alone] = await new SpecRunner({ rewriters: [metered], assembler })
    .runFile("lanes", SCRIPT);
  assert.deepEqual(good, alone);
  assert.deepEqual(good!.failures, []);
  assert.equal(good!.assertsChecked, 3);
  assert.equal(good!.assertsAgreed, 3);
  assert.equal(good!.actionsChecked, 1);
  assert.equal(good!.instancesCompared, 2);
  assert.equal(good!.plainMetSpec, 3);
  // The broken lane differs where its module returns 8, and nowhere else:
  // the global, changed by an action on the shared plain run, still agrees.
  assert.equal(bad!.assertsChecked, 3);
  assert.equal(bad!.assertsAgreed, 1);
  assert.deepEqual(
    bad!.failures.map((failure) => `${failure.command}: ${failure.detail}`),
    [
      'assert_return (invoke "h"): plain return [i32:7], metered return [i32:8]',
      'assert_return (invoke "seven"): plain return [i32:7], metered return [i32:8]',
    ],
  );
});
