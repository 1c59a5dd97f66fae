/**
 * The compile thread's stand-in instance for a guest whose imports are
 * named after what every object inherits (`constructor`, `toString`): its
 * import object has no prototype, so the names reach neither the thread's
 * `Object` nor `Object.prototype`'s methods, and the guest's dear functions
 * are compiled ahead as any other guest's.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { loadGuest, prepareStops } from "../mod.ts";
import { precompiled } from "../src/load/precompile.ts";
import { compileThreadUp } from "../src/load/compile_thread.ts";
import { wat } from "./support/instrument.ts";

/** A guest with one function dear to compile and the given imports. */
function dearGuest(imports: [string, string][]): Promise<Uint8Array> {
  return wat(`(module
    ${
    imports.map(([module, name]) => `(import "${module}" "${name}" (func))`)
      .join(" ")
  }
    (func $dear (local $x i32) (local ${"v128 ".repeat(1_023)})
      ${"(if (local.get $x) (then (local.set $x (i32.const 1)))) ".repeat(40)})
    (func (export "run") (call $dear)))`);
}

/** The imports as a host supplies them, as own properties of plain objects. */
function supplied(imports: [string, string][]): WebAssembly.Imports {
  const object: Record<string, Record<string, () => void>> = {};
  for (const [module, name] of imports) {
    if (!Object.hasOwn(object, module)) {
      Object.defineProperty(object, module, { value: {}, enumerable: true });
    }
    Object.defineProperty(object[module], name, {
      value: () => {},
      enumerable: true,
    });
  }
  return object;
}

Deno.test("a guest importing constructor.prototype and constructor.keys has its dear functions compiled ahead", async () => {
  await prepareStops();
  for (let waits = 0; !compileThreadUp() && waits < 2_000; waits++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(compileThreadUp(), "the compile thread is up");
  for (
    const imports of [
      [["constructor", "keys"], ["constructor", "prototype"]],
      [["toString", "call"], ["hasOwnProperty", "name"]],
      [["env", "f"]],
    ] as [string, string][][]
  ) {
    const guest = await loadGuest(await dearGuest(imports), {
      fuel: false,
      interruptible: true,
      imports: supplied(imports),
    });
    assert.equal(await precompiled(guest), 1, JSON.stringify(imports));
    assert.equal(guest.invoke("run").outcome, "returned");
  }
});
