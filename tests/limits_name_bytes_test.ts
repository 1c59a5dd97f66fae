/**
 * Long import and export names weigh in a guest's instantiation work: the
 * engine makes a string of each name as it instantiates the guest (of an
 * imported string constant, at every instantiation), in one step no stop
 * can cut short. A few megabytes of names are refused before the engine
 * sees them; real guests have a few hundred bytes.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { GuestLoadError, loadGuest } from "../mod.ts";
import { concatBytes, encodeLeb, PREAMBLE } from "./support/module_bytes.ts";

const MiB = 1 << 20;

function section(id: number, payload: Uint8Array): Uint8Array {
  return concatBytes([id, ...encodeLeb(payload.length)], payload);
}

/** A name of `length` bytes, told apart from the others by its first. */
function longName(index: number, length: number): Uint8Array {
  const name = new Uint8Array(length).fill(0x61);
  name[0] = 0x41 + index;
  return concatBytes(encodeLeb(length), name);
}

/** `count` imported string constants (`externref` globals), each `length` bytes. */
function stringConstants(count: number, length: number): Uint8Array {
  const imports: (number[] | Uint8Array)[] = [encodeLeb(count)];
  for (let i = 0; i < count; i++) {
    // Module "'", the name, a global of externref, immutable.
    imports.push([1, 0x27], longName(i, length), [0x03, 0x6f, 0x00]);
  }
  return concatBytes(PREAMBLE, section(2, concatBytes(...imports)));
}

/** One empty function exported `count` times, under names of `length` bytes. */
function exportNames(count: number, length: number): Uint8Array {
  const exports: (number[] | Uint8Array)[] = [encodeLeb(count)];
  for (let i = 0; i < count; i++) exports.push(longName(i, length), [0, 0]);
  return concatBytes(
    PREAMBLE,
    section(1, Uint8Array.of(1, 0x60, 0, 0)),
    section(3, Uint8Array.of(1, 0)),
    section(7, concatBytes(...exports)),
    section(10, Uint8Array.of(1, 2, 0, 0x0b)),
  );
}

const compile = { builtins: ["js-string"], importedStringConstants: "'" };

Deno.test("a guest with megabytes of import or export names is refused before the engine instantiates it", async () => {
  for (
    const [bytes, options] of [
      [stringConstants(6, MiB), { compile }],
      [stringConstants(6, MiB), { compile, interruptible: true }],
      [exportNames(6, MiB), {}],
      [exportNames(6, MiB), { timeout: 60_000 }],
    ] as const
  ) {
    const error = await loadGuest(bytes, options).then(
      () => assert.fail("loaded"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof GuestLoadError, String(error));
    assert.equal(error.reason, "limits");
    assert.match(
      error.message,
      /bytes of import and export sections past the first 262144, which weigh \d+ in instantiation work/,
    );
    assert.doesNotMatch(error.message, /\n/);
  }
});

Deno.test("a guest with a megabyte of import names loads", async () => {
  const guest = await loadGuest(stringConstants(1, MiB), {
    compile,
    interruptible: true,
  });
  assert.ok(guest.instance instanceof WebAssembly.Instance);
});
