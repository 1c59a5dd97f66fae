/**
 * What `instrument()` adds for V8's sake: branch hints that mark every
 * check unlikely, and padding functions that keep the share of small bodies
 * that V8's inlining budget depends on.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { paddingFunctions } from "../src/wasm/padding.ts";
import { Reader } from "../src/wasm/reader.ts";
import { type Fn, meter, wat } from "./support/instrument.ts";
import { COMPUTE } from "./support/guests.ts";

function bodySizes(bytes: Uint8Array): number[] {
  const r = new Reader(bytes, 8, bytes.length);
  while (!r.atEnd()) {
    const id = r.u8();
    const end = r.u32() + r.pos;
    if (id === 10) {
      const sizes: number[] = [];
      for (let n = r.u32(); n > 0; n--) {
        const size = r.u32();
        sizes.push(size);
        r.pos += size;
      }
      return sizes;
    }
    r.pos = end;
  }
  return [];
}

/** The share of bodies V8 counts as small (under 50 bytes). */
function smallShare(bytes: Uint8Array): number {
  const sizes = bodySizes(bytes);
  return sizes.filter((size) => size < 50).length / sizes.length;
}

Deno.test("instrument() keeps V8's share of small function bodies", async () => {
  // Four small bodies that checks push past 50 bytes: padding brings the
  // share back to the half that gives V8's full inlining budget.
  const compute = await Deno.readFile(COMPUTE);
  assert.equal(smallShare(compute), 1);
  for (const resumable of [true, false]) {
    const metered = instrument(compute, { resumable }).bytes;
    assert.ok(smallShare(metered) >= 0.5, `resumable: ${resumable}`);
    const m = await meter(compute, { resumable, initialFuel: 1n << 40n });
    assert.equal((m.exports.fib as Fn)(20), 6765);
  }
  // A module that is mostly big is left as it is.
  const big = await wat(`(module (func (export "f") (result i32)
    ${"i32.const 1 drop ".repeat(30)} i32.const 7))`);
  assert.equal(bodySizes(instrument(big).bytes).length, 2);
});

Deno.test("paddingFunctions() reaches the input's share, capped at one half", () => {
  assert.equal(paddingFunctions(4, 4, 5, 1), 3); // 4/8 = 1/2
  assert.equal(paddingFunctions(10, 4, 11, 2), 4); // 6/15 = 4/10
  assert.equal(paddingFunctions(4, 1, 5, 1), 0); // 25% or less: no effect
  assert.equal(paddingFunctions(10, 6, 11, 7), 0); // already there
  assert.equal(paddingFunctions(0, 0, 1, 1), 0);
});

Deno.test("every check's if is hinted unlikely, in both kinds of check, and stale guest hints are dropped", async () => {
  const guest = new Uint8Array(
    await Deno.readFile(COMPUTE),
  );
  for (const resumable of [true, false]) {
    const metered = instrument(guest, { resumable });
    const module = new WebAssembly.Module(metered.bytes);
    const sections = WebAssembly.Module.customSections(
      module,
      "metadata.code.branch_hint",
    );
    assert.equal(sections.length, 1);
    // Where each function body starts (after its size), by function index.
    const bodies = new Map<number, number>();
    const r = new Reader(metered.bytes, 8);
    let imported = 0;
    while (r.pos < metered.bytes.length) {
      const id = r.u8();
      const size = r.u32();
      const end = r.pos + size;
      if (id === 2) {
        const count = r.u32();
        for (let i = 0; i < count; i++) {
          r.name();
          r.name();
          const kind = r.u8();
          assert.equal(
            kind,
            0,
            "compute.wasm imports only functions once metered",
          );
          r.u32();
          imported++;
        }
      } else if (id === 10) {
        const count = r.u32();
        for (let i = 0; i < count; i++) {
          const bodySize = r.u32();
          bodies.set(imported + i, r.pos);
          r.pos += bodySize;
        }
      } else if (id === 0 && bodies.size === 0) {
        assert.notEqual(r.name(), "", "custom sections are named");
      }
      r.pos = end;
    }
    const hints = new Reader(new Uint8Array(sections[0]));
    let hinted = 0;
    for (let functions = hints.u32(); functions > 0; functions--) {
      const body: number | undefined = bodies.get(hints.u32());
      assert.ok(body !== undefined);
      for (let count = hints.u32(); count > 0; count--) {
        const at: number = body + hints.u32();
        assert.equal(hints.u32(), 1);
        assert.equal(hints.u8(), 0, "unlikely");
        // The test, then an `if` of any block type.
        assert.deepEqual([...metered.bytes.subarray(at - 1, at + 1)], [
          0x53,
          0x04,
        ], "i64.lt_s; if");
        hinted++;
      }
    }
    assert.ok(hinted >= 6, `${hinted} checks hinted`);
  }
  // A guest's own hints would point at moved code: only the rewriter's remain.
  const stale = new Uint8Array([
    ...guest,
    0,
    26,
    25,
    ...new TextEncoder().encode("metadata.code.branch_hint"),
  ]);
  const rewritten = new WebAssembly.Module(instrument(stale).bytes);
  assert.equal(
    WebAssembly.Module.customSections(rewritten, "metadata.code.branch_hint")
      .length,
    1,
  );
});
