/**
 * A load reads the caller's bytes as they were at one moment, whatever the
 * caller's code does to them in the turns of the event loop the load gives
 * (a stoppable load's copy of them and its rewrite in steps, a rewrite
 * cache's reads and digests): a change is wholly in the guest or wholly
 * out of it, and a buffer transferred away before the copy fails the load
 * with a clear error. A load that watches a signal gives the same guest, or
 * the same error, as one that does not, however many run at once, through
 * a cache or not.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { setImmediate } from "node:timers";
import { withDirectory } from "./support/temp_directory.ts";
import {
  FuelMeter,
  isAborted,
  isGuestLoadError,
  loadGuest,
  RewriteCache,
  StopSignal,
} from "../mod.ts";
import { LoadStops } from "../src/load/load_stops.ts";
import { encodeLeb } from "./support/module_bytes.ts";
import { assembleWat } from "../guest/build.ts";
import { esbuildToLoad } from "./support/esbuild.ts";
import { quickjsBytes } from "./support/quickjs.ts";

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

/** esbuild.wasm, and imports for its glue that are never called. */
const { bytes: esbuild, imports } = await esbuildToLoad();
const reference = (await loadGuest(esbuild.slice(), {
  fuel: 1e12,
  imports,
  interruptible: true,
})).meter!.bytes;

/**
 * `(func (export "f") (result i32) (i32.const 0))` and an exported memory
 * with a 4 MiB data segment, whose last byte is 0; and where the two zeros
 * are, at the start of the module and at its end. With `table`, also a
 * table with no maximum, which the load's default limit gives one: the
 * load writes its limits over its copy of the bytes.
 */
async function twoEnds(
  table: boolean,
): Promise<{ bytes: Uint8Array; at: number[] }> {
  const small = await assembleWat(
    `(module ${
      table ? "(table 1 funcref) " : ""
    }(memory (export "memory") 65) (func (export "f") (result i32) (i32.const 0)))`,
  );
  const data = new Uint8Array(4 << 20);
  const segment = [1, 0x00, 0x41, 0x00, 0x0b, ...encodeLeb(data.length)];
  const size = encodeLeb(segment.length + data.length);
  const bytes = new Uint8Array(
    small.length + 1 + size.length + segment.length + data.length,
  );
  bytes.set(small);
  bytes.set([11, ...size, ...segment], small.length);
  const constant =
    small.findIndex((byte, i) =>
      byte === 0x41 && small[i + 1] === 0 && small[i + 2] === 0x0b
    ) + 1;
  return { bytes, at: [constant, bytes.length - 1] };
}

for (const table of [false, true]) {
  Deno.test(
    `loadGuest with a signal: a caller that changes its bytes at every turn gets a guest of its bytes at one moment, never a mix${
      table ? ", its limits written over the load's copy" : ""
    }`,
    async () => {
      const { bytes, at } = await twoEnds(table);
      const input = bytes.slice();
      let changing = true;
      const loading = loadGuest(input, {
        fuel: 1e12,
        signal: new AbortController().signal,
      }).finally(() => changing = false);
      // At each turn, both ends take the turn's number.
      let turn = 0;
      await new Promise<void>((resolve) => {
        const next = () => {
          if (!changing) return resolve();
          turn++;
          for (const where of at) input[where] = turn % 64;
          setImmediate(next);
        };
        setImmediate(next);
      });
      assert.ok(turn > 1, "the load gave the event loop no turns");
      const guest = await loading;
      const memory = guest.instance.exports.memory as WebAssembly.Memory;
      const last = new Uint8Array(memory.buffer)[(4 << 20) - 1];
      assert.equal(
        guest.call("f"),
        last,
        "the ends were read at different turns",
      );
    },
  );
}

Deno.test("loadGuest with a signal: a caller that transfers its buffer away before the load copied it gets a clear error", async () => {
  const input = esbuild.slice();
  const loading = loadGuest(input, {
    fuel: 1e12,
    imports,
    signal: new AbortController().signal,
  });
  await meanwhile(1, () => input.buffer.transfer());
  assert.equal(input.length, 0);
  await assert.rejects(loading, (error) => {
    assert.ok(isGuestLoadError(error) && error.reason === "io", String(error));
    assert.match(error.message, /transferred away or resized/);
    assert.match(error.hint, /until loadGuest's promise settles/);
    return true;
  });
});

Deno.test("a watched load's copy of the caller's bytes ends at an abort that comes while its pages are mapped, before the copy", async () => {
  const controller = new AbortController();
  const stops = new LoadStops(controller.signal);
  try {
    const bytes = new Uint8Array(8 << 20).fill(1);
    const copying = stops.snapshot(bytes, "bytes");
    assert.ok(copying instanceof Promise, "the copy was taken at once");
    setImmediate(() => controller.abort(new Error("while mapping")));
    await assert.rejects(copying, (error) => isAborted(error));
  } finally {
    stops.dispose();
  }
});

Deno.test("a watched load's copy of the caller's bytes reads a StopSignal between its steps", async () => {
  const stop = new StopSignal();
  const stops = new LoadStops(undefined, stop);
  try {
    stop.stop("before the copy");
    await assert.rejects(
      stops.snapshot(new Uint8Array(1 << 20), "bytes"),
      (error) => isAborted(error),
    );
  } finally {
    stops.dispose();
  }
});

Deno.test("loadGuest with a cache and a signal: concurrent misses of one module, and a miss stopped mid-rewrite, store only whole rewrites", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    // Stopped during its rewrite: nothing is stored.
    const controller = new AbortController();
    const stopped = loadGuest(esbuild, {
      fuel: 1e12,
      imports,
      cache,
      signal: controller.signal,
    });
    await meanwhile(5, () => {});
    controller.abort(new Error("mid-rewrite"));
    await assert.rejects(stopped, /mid-rewrite/);
    assert.equal(cache.misses, 0);
    // Three at once: each the same as a load without a signal or a cache.
    const signal = new AbortController().signal;
    const guests = await Promise.all(
      [0, 1, 2].map(() =>
        loadGuest(esbuild, { fuel: 1e12, imports, cache, signal })
      ),
    );
    for (const guest of guests) {
      assert.ok(same(guest.meter!.bytes, reference), "the rewrites differ");
    }
    const hit = await loadGuest(esbuild, {
      fuel: 1e12,
      imports,
      cache,
      signal,
    });
    assert.equal(cache.hits, 1);
    assert.equal(cache.rejected, 0);
    assert.ok(same(hit.meter!.bytes, reference), "the stored rewrite differs");
  });
});

Deno.test("loadGuest with a signal: loads of several guests at once each give the rewrite of a load alone", async () => {
  const quickjs = await quickjsBytes;
  const quickjsImports: WebAssembly.Imports = {};
  for (
    const { module, kind, name } of WebAssembly.Module.imports(
      await WebAssembly.compile(quickjs),
    )
  ) {
    (quickjsImports[module] ??= {})[name] = kind === "memory"
      ? new WebAssembly.Memory({ initial: 256, maximum: 32768 })
      : () => 0;
  }
  // QuickJS has a start function, which a load given a signal runs as an
  // async call (its flag checks ask the host): alone, with a signal too.
  const signal = new AbortController().signal;
  const quickjsAlone = (await loadGuest(quickjs, {
    fuel: 1e12,
    imports: quickjsImports,
    signal,
  })).meter!.bytes;
  const loads = await Promise.all([
    loadGuest(esbuild, { fuel: 1e12, imports, signal }),
    loadGuest(quickjs, { fuel: 1e12, imports: quickjsImports, signal }),
    loadGuest(esbuild, { fuel: 1e12, imports, stop: new StopSignal() }),
    loadGuest(quickjs, { fuel: 1e12, imports: quickjsImports, signal }),
  ]);
  for (const [i, guest] of loads.entries()) {
    const alone = i % 2 === 0 ? reference : quickjsAlone;
    assert.ok(same(guest.meter!.bytes, alone), `load ${i} differs`);
  }
});

Deno.test("loadGuest with a signal: an invalid guest gets the same error as without one", async () => {
  const quickjs = await quickjsBytes;
  const inputs: Uint8Array[] = [new Uint8Array([0, 0x61, 0x73, 0x6d, 1])];
  for (const at of [0.3, 0.6, 0.9]) {
    const cut = Math.floor(quickjs.length * at);
    inputs.push(quickjs.slice(0, cut));
    const junk = quickjs.slice();
    junk.fill(0xff, cut, cut + 16);
    inputs.push(junk);
  }
  const message = (load: Promise<unknown>) =>
    load.then(
      () => "loaded",
      (error) => `${(error as Error).name}: ${(error as Error).message}`,
    );
  for (const bytes of inputs) {
    const alone = await message(
      loadGuest(bytes, { fuel: 1e9, interruptible: true }),
    );
    const signal = new AbortController().signal;
    assert.equal(await message(loadGuest(bytes, { fuel: 1e9, signal })), alone);
  }
});
