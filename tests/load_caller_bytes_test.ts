/**
 * A load reads the caller's bytes as they were when it began, whatever the
 * caller's code does to them in the turns of the event loop the load gives
 * (a stoppable load's rewrite in steps, a rewrite cache's reads and
 * digests): it changes them, or transfers their buffer away. A load that
 * watches a signal gives the same guest as one that does not.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { setImmediate } from "node:timers";
import { withDirectory } from "./support/temp_directory.ts";
import { FuelMeter, loadGuest, RewriteCache } from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { ESBUILD_WASM } from "./support/esbuild.ts";

/**
 * `(func (export "f") (result i32) (i32.const 5))`, and where the 5 is; with
 * enough other functions that the cache's digest of the module takes a turn.
 */
const five = await assembleWat(
  `(module (func (export "f") (result i32) (i32.const 5)) ${
    Array.from(
      { length: 20_000 },
      (_, i) =>
        `(func (param i32) (result i32) (i32.add (local.get 0) (i32.const ${i})))`,
    ).join(" ")
  })`,
);
const fiveAt =
  five.findIndex((byte, i) =>
    byte === 0x41 && five[i + 1] === 5 && five[i + 2] === 0x0b
  ) + 1;

/** Calls `change` at each of the event loop's next `turns` turns. */
function meanwhile(turns: number, change: (turn: number) => void) {
  return new Promise<void>((resolve) => {
    let turn = 0;
    const next = () => {
      change(turn);
      if (++turn < turns) setImmediate(next);
      else resolve();
    };
    setImmediate(next);
  });
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

Deno.test("loadGuest with a cache: bytes the caller changes while the cache reads store no entry for other bytes", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const input = five.slice();
    const loading = loadGuest(input, { fuel: 1e6, cache });
    await meanwhile(20, () => input[fiveAt] = 6);
    assert.equal((await loading).call("f"), 5);
    // The entry is the rewrite of the bytes its key was made of.
    const again = await loadGuest(five.slice(), { fuel: 1e6, cache });
    assert.equal(cache.hits, 1);
    assert.equal(again.call("f"), 5);
  });
});

Deno.test("FuelMeter.create with a cache: bytes the caller changes while the cache reads store no entry for other bytes", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const input = five.slice();
    const creating = FuelMeter.create(input, { fuel: 1e6, cache });
    await meanwhile(20, () => input[fiveAt] = 6);
    const reference = new FuelMeter(five, { fuel: 1e6 }).bytes;
    assert.ok(same((await creating).bytes, reference), "the rewrites differ");
    const again = await FuelMeter.create(five.slice(), { fuel: 1e6, cache });
    assert.equal(cache.hits, 1);
    assert.ok(same(again.bytes, reference), "the stored rewrite differs");
  });
});

const esbuild = await Deno.readFile(ESBUILD_WASM);
/** Go's glue functions, never called: the guest is only loaded here. */
const imports: Record<string, Record<string, () => void>> = {};
for (
  const { module, name } of WebAssembly.Module.imports(
    await WebAssembly.compile(esbuild),
  )
) {
  (imports[module] ??= {})[name] = () => {};
}
const reference = (await loadGuest(esbuild.slice(), {
  fuel: 1e12,
  imports,
  interruptible: true,
})).meter!.bytes;

Deno.test("loadGuest with a signal: the caller's changes anywhere in its bytes during the load are not read", async () => {
  const input = esbuild.slice();
  const loading = loadGuest(input, {
    fuel: 1e12,
    imports,
    signal: new AbortController().signal,
  });
  // From the end: the copy of a large module used to take several turns.
  await meanwhile(30, (turn) => {
    const end = input.length - turn * 4096;
    input.fill(0, end - 4096, end);
  });
  assert.ok(
    same((await loading).meter!.bytes, reference),
    "the rewrites differ",
  );
});

Deno.test("loadGuest with a signal: a caller that transfers its buffer away during the load does not change the guest", async () => {
  const input = esbuild.slice();
  const loading = loadGuest(input, {
    fuel: 1e12,
    imports,
    signal: new AbortController().signal,
  });
  await meanwhile(1, () => input.buffer.transfer());
  assert.equal(input.length, 0);
  assert.ok(
    same((await loading).meter!.bytes, reference),
    "the rewrites differ",
  );
});
