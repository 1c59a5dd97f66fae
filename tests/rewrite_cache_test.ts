/**
 * The rewrite cache through the public API: hits, misses on every option
 * that changes the output, entries that are byte for byte a fresh rewrite,
 * bad entries ignored and replaced, and options read once.
 */
import assert from "./support/assert.ts";
import { makeFifo } from "./support/fifo.ts";
import { withDirectory } from "./support/temp_directory.ts";
import {
  FuelMeter,
  type FuelMeterOptions,
  type GuestOptions,
  isFuelExhausted,
  isGuestLoadError,
  loadGuest,
  RewriteCache,
} from "../mod.ts";
import { instrument, type InstrumentOptions } from "../src/wasm/mod.ts";
import { COMPUTE, RUNAWAY } from "./support/guests.ts";
import { quickjsBytes } from "./support/quickjs.ts";
import { wat } from "./support/instrument.ts";

const compute = await Deno.readFile(COMPUTE);
const runaway = await Deno.readFile(RUNAWAY);

/** The directory's entries, and anything else left in it. */
function listing(directory: string): string[] {
  return [...Deno.readDirSync(directory)].map((entry) => entry.name).sort();
}

function onlyEntry(directory: string): string {
  const names = listing(directory);
  assert.equal(names.length, 1, `one entry expected: ${names.join(", ")}`);
  assert.match(names[0]!, /^[0-9a-f]{64}\.rewrite$/);
  return `${directory}/${names[0]}`;
}

Deno.test("FuelMeter.create: the second meter of the same bytes reads the first one's rewrite, byte for byte", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const first = await FuelMeter.create(compute, { fuel: 1_000_000, cache });
    assert.deepEqual([cache.hits, cache.misses], [0, 1]);
    const second = await FuelMeter.create(compute, { fuel: 1_000_000, cache });
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    const fresh = new FuelMeter(compute, { fuel: 1_000_000 });
    assert.deepEqual(first.bytes, fresh.bytes);
    assert.deepEqual(second.bytes, fresh.bytes);
    // The cached meter counts exactly as a fresh one does.
    const used: number[] = [];
    for (const meter of [fresh, second]) {
      const { instance } = await WebAssembly.instantiate(
        meter.bytes,
        meter.imports,
      );
      meter.attach(instance);
      const fib = instance.exports.fib as (n: number) => number;
      const result = meter.run(() => fib(20));
      assert.equal(result.outcome === "returned" && result.value, 6765);
      used.push(meter.consumed);
    }
    assert.equal(used[0], used[1]);
  });
});

Deno.test("FuelMeter.create with a cache checks and limits the input as the constructor does, a miss or a hit", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    // A memory and a table with no maximum, which the default limits give
    // one: the patched bytes are what is rewritten and stored.
    const unbounded = await wat(
      `(module (memory (export "memory") 1) (table 1 funcref)
        (func (export "f") (result i32) (i32.const 7)))`,
    );
    const fresh = new FuelMeter(unbounded);
    for (let i = 0; i < 2; i++) {
      const cached = await FuelMeter.create(unbounded, { cache });
      assert.deepEqual(cached.bytes, fresh.bytes);
    }
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    // A guest over the instance-size caps is refused before any entry.
    const huge = await wat(
      `(module (table 20000000 funcref) (func (export "f")))`,
    );
    const refused = (() => {
      try {
        new FuelMeter(huge);
      } catch (error) {
        return error as Error;
      }
    })();
    assert.ok(isGuestLoadError(refused), String(refused));
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        () => FuelMeter.create(huge, { cache }),
        (error) => isGuestLoadError(error) && error.message === refused.message,
      );
    }
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    assert.equal(listing(directory).length, 1);
  });
});

Deno.test("a cache given as a path or a file: URL is the same directory", async () => {
  await withDirectory(async (directory) => {
    await FuelMeter.create(compute, { cache: directory });
    const url = new URL(`file://${directory}/`);
    const cache = new RewriteCache(url);
    await FuelMeter.create(compute, { cache });
    assert.deepEqual([cache.hits, cache.misses], [1, 0]);
    assert.equal(listing(directory).length, 1);
  });
});

Deno.test("every option that changes the rewrite is another entry; the same options hit", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const variants: FuelMeterOptions[] = [
      {},
      { resumable: false },
      { resumable: false, fuel: 1000 },
      { stopFlag: false },
      { stopsWaitFor: ["fib"] },
    ];
    // Each rewrites the guest differently from every other.
    const fresh = variants.map((options) => new FuelMeter(compute, options));
    const distinct = new Set(fresh.map((meter) => meter.bytes.join()));
    assert.equal(distinct.size, variants.length);
    for (const [i, options] of variants.entries()) {
      const meter = await FuelMeter.create(compute, { ...options, cache });
      assert.deepEqual(meter.bytes, fresh[i]!.bytes);
    }
    assert.equal(cache.misses, variants.length);
    assert.equal(cache.hits, 0);
    assert.equal(listing(directory).length, variants.length);
    // Costs are the third argument.
    for (const costs of [{ default: 2 }, { operators: { "i32.add": 5 } }]) {
      const options: InstrumentOptions = { costs };
      const meter = await FuelMeter.create(compute, { cache }, options);
      assert.deepEqual(meter.bytes, new FuelMeter(compute, {}, options).bytes);
    }
    assert.equal(cache.misses, variants.length + 2);
    for (const options of variants) {
      await FuelMeter.create(compute, { ...options, cache });
    }
    await FuelMeter.create(compute, { cache }, { costs: { default: 2 } });
    assert.equal(cache.hits, variants.length + 1);
    assert.equal(cache.misses, variants.length + 2);
    // Another input is another entry too, and so are its limits.
    const limits = [undefined, { memory: 2 * 65536 }, { memory: 3 * 65536 }];
    const limited = limits.map((limits) => new FuelMeter(runaway, { limits }));
    assert.equal(new Set(limited.map((m) => m.bytes.join())).size, 3);
    for (const [i, limit] of limits.entries()) {
      const meter = await FuelMeter.create(runaway, { limits: limit, cache });
      assert.deepEqual(meter.bytes, limited[i]!.bytes);
    }
    assert.equal(cache.misses, variants.length + 5);
    // Options that leave the rewrite as it is share its entry: hooks, and
    // the budget of a guest that asks for its fuel.
    await FuelMeter.create(compute, {
      cache,
      poll: () => false,
      refuel: () => 0,
      fuel: 1234,
    });
    assert.equal(cache.misses, variants.length + 5);
  });
});

Deno.test("RewriteCache.instrument returns what instrument() does, byte for byte, on a miss and on a hit", async () => {
  const quickjs = await quickjsBytes;
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const cases: [Uint8Array, InstrumentOptions][] = [
      [compute, {}],
      [compute, { resumable: false, initialFuel: 5000n }],
      [compute, { stopFlag: true, deferStart: true }],
      [runaway, { stopFlag: true, fuel: false, stopFlagTraps: true }],
      [quickjs, { stopFlag: true, exportStackPointer: true }],
      [quickjs, {
        stopFlag: true,
        stopsWaitForAllocator: true,
        costs: { default: 3 },
      }],
    ];
    for (const [bytes, options] of cases) {
      const fresh = instrument(bytes, options);
      assert.deepEqual(await cache.instrument(bytes, options), fresh);
      assert.deepEqual(await cache.instrument(bytes, options), fresh);
    }
    assert.deepEqual([cache.hits, cache.misses], [cases.length, cases.length]);
  });
});

Deno.test("loadGuest: a metered guest loaded again reads its rewrite, and counts fuel as a fresh load does", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const results = [];
    for (const options of [{ cache }, { cache }, {}]) {
      const guest = await loadGuest(COMPUTE, { fuel: 50_000, ...options });
      results.push(guest.invoke("fib", [25]));
    }
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    assert.equal(results[0]!.outcome, "fuel_exhausted");
    for (const result of results) {
      assert.equal(result.outcome, "fuel_exhausted");
      assert.deepEqual(result.fuel, results[0]!.fuel);
    }
    // A deadline is another rewrite (a stop flag), and stops as it should.
    const timed = await loadGuest(RUNAWAY, { timeout: 20, cache });
    assert.equal(cache.misses, 2);
    const again = await loadGuest(RUNAWAY, { timeout: 20, cache });
    assert.equal(cache.hits, 2);
    assert.equal(timed.invoke("spin").outcome, "timeout");
    assert.equal(again.invoke("spin").outcome, "timeout");
  });
});

Deno.test("loadGuest: each way of metering is its own entry, read back by the next load with the same options", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const variants: GuestOptions[] = [
      { fuel: 1e6 },
      { fuel: 1e6, costs: { default: 2 } },
      { fuel: 1e6, interruptible: true },
      { fuel: false },
      { async: true },
    ];
    for (const round of [1, 2]) {
      for (const options of variants) {
        const guest = await loadGuest(COMPUTE, { ...options, cache });
        const result = options.async
          ? await guest.invokeAsync("fib", [20])
          : guest.invoke("fib", [20]);
        assert.equal(
          result.outcome === "returned" && result.value,
          6765,
          JSON.stringify(options),
        );
      }
      assert.equal(cache.misses, variants.length, `round ${round}`);
    }
    assert.equal(cache.hits, variants.length);
    assert.equal(listing(directory).length, variants.length);
    // A deadline rewrites the guest as interruptible does: the same entry.
    const timed = await loadGuest(COMPUTE, { timeout: 1_000, cache });
    assert.equal(timed.call("fib", 20), 6765);
    assert.equal(cache.hits, variants.length + 1);
  });
});

Deno.test("a rewrite read from the cache still charges the guest's instantiation", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const errors = [];
    for (let i = 0; i < 2; i++) {
      errors.push(
        await loadGuest(RUNAWAY, { fuel: 0, cache }).then(
          () => undefined,
          (error) => error,
        ),
      );
    }
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    assert.ok(isFuelExhausted(errors[0]), String(errors[0]));
    assert.match(errors[0].message, /ran out of fuel before it started/);
    assert.equal(errors[1]?.message, errors[0].message);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        () => FuelMeter.create(runaway, { fuel: 0, cache }),
        (error) => isFuelExhausted(error),
      );
    }
    assert.deepEqual([cache.hits, cache.misses], [2, 2]);
  });
});

Deno.test("loadGuest takes a directory path as cache; a guest it does not rewrite stores nothing", async () => {
  await withDirectory(async (directory) => {
    const plain = await loadGuest(COMPUTE, { cache: directory });
    assert.equal(plain.call("fib", 10), 55);
    assert.deepEqual(listing(directory), []);
    const metered = await loadGuest(COMPUTE, { fuel: 1e6, cache: directory });
    assert.equal(metered.call("fib", 10), 55);
    onlyEntry(directory);
  });
});

/** Ways an entry on disk can go bad, each given the entry's bytes. */
const DAMAGE: [string, (entry: Uint8Array) => Uint8Array][] = [
  ["empty", () => new Uint8Array(0)],
  ["truncated to its header", (entry) => entry.slice(0, 40)],
  ["missing its last byte", (entry) => entry.slice(0, -1)],
  ["with a byte more", (entry) => Uint8Array.from([...entry, 0])],
  ["with a flipped byte in the output", (entry) => {
    const copy = entry.slice();
    copy[copy.length - 10]! ^= 0x01;
    return copy;
  }],
  ["with a flipped byte in its digest", (entry) => {
    const copy = entry.slice();
    copy[30]! ^= 0x80;
    return copy;
  }],
  ["with a flipped byte in its key", (entry) => {
    const copy = entry.slice();
    copy[70]! ^= 0x04;
    return copy;
  }],
  ["with a flipped byte in its metadata", (entry) => {
    const copy = entry.slice();
    copy[100]! ^= 0x04;
    return copy;
  }],
  ["with a metadata length past the end", (entry) => {
    const copy = entry.slice();
    copy[55] = 0xff;
    return copy;
  }],
  ["not an entry at all", () => new TextEncoder().encode("hello")],
];

Deno.test("a damaged entry is never used: the rewrite is made again, byte for byte, and replaces it", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const fresh = new FuelMeter(compute, { fuel: 1000 }).bytes;
    await FuelMeter.create(compute, { fuel: 1000, cache });
    const path = onlyEntry(directory);
    const good = await Deno.readFile(path);
    let rejected = 0;
    for (const [what, damage] of DAMAGE) {
      await Deno.writeFile(path, damage(good));
      const meter = await FuelMeter.create(compute, { fuel: 1000, cache });
      assert.deepEqual(meter.bytes, fresh, what);
      assert.equal(cache.rejected, ++rejected, what);
      assert.deepEqual(await Deno.readFile(path), good, `${what}: healed`);
      const hits = cache.hits;
      await FuelMeter.create(compute, { fuel: 1000, cache });
      assert.equal(cache.hits, hits + 1, `${what}: read after healing`);
    }
    onlyEntry(directory);
  });
});

Deno.test("an entry copied under another key's name is not used", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    // A guest that cannot resume holds its budget: another rewrite.
    const options = { resumable: false, cache };
    await FuelMeter.create(compute, { ...options, fuel: 1000 });
    const small = onlyEntry(directory);
    await FuelMeter.create(compute, { ...options, fuel: 2000 });
    const other = listing(directory).map((name) => `${directory}/${name}`)
      .find((path) => path !== small)!;
    // The entry for fuel 2000 now holds the one for fuel 1000, intact.
    await Deno.copyFile(small, other);
    const meter = await FuelMeter.create(compute, { ...options, fuel: 2000 });
    assert.equal(cache.rejected, 1);
    const fresh = new FuelMeter(compute, { resumable: false, fuel: 2000 });
    assert.deepEqual(meter.bytes, fresh.bytes);
  });
});

Deno.test("an entry that is a link, even to a whole entry of its key, is replaced by a file", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    await FuelMeter.create(compute, { cache });
    const path = onlyEntry(directory);
    const elsewhere = `${directory}/elsewhere`;
    await Deno.rename(path, elsewhere);
    await Deno.symlink(elsewhere, path);
    await FuelMeter.create(compute, { cache });
    assert.equal(cache.rejected, 1);
    assert.ok((await Deno.lstat(path)).isFile);
    assert.deepEqual(await Deno.readFile(path), await Deno.readFile(elsewhere));
  });
});

Deno.test("a named pipe in an entry's place is not opened: the rewrite replaces it", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    await FuelMeter.create(compute, { cache });
    const path = onlyEntry(directory);
    await Deno.remove(path);
    await makeFifo(path);
    // Opened, the pipe would wait for a writer that never comes.
    let guard: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise((resolve) => {
      guard = setTimeout(() => resolve("hung"), 60_000);
    });
    const meter = FuelMeter.create(compute, { cache });
    const first = await Promise.race([meter, hung]);
    clearTimeout(guard);
    assert.notEqual(first, "hung");
    assert.equal(cache.rejected, 1);
    assert.ok((await Deno.lstat(path)).isFile);
  });
});

Deno.test("a directory in an entry's place is passed over and reported when the rewrite cannot be stored", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    await FuelMeter.create(compute, { cache });
    const path = onlyEntry(directory);
    await Deno.remove(path);
    await Deno.mkdir(path);
    await Deno.writeTextFile(`${path}/keep`, "x");
    const error = await FuelMeter.create(compute, { cache }).then(
      () => undefined,
      (error) => error,
    );
    assert.ok(isGuestLoadError(error), String(error));
    assert.equal(error.reason, "io");
    assert.match(error.message, /cannot write to the rewrite cache in /);
    assert.equal(error.message.split("\n").length, 1);
    // The temporary file went with the failure.
    assert.deepEqual(listing(directory), [path.slice(directory.length + 1)]);
  });
});

Deno.test("a cache path that is a file is refused with one line", async () => {
  await withDirectory(async (directory) => {
    const file = `${directory}/not-a-directory`;
    await Deno.writeTextFile(file, "x");
    const error = await loadGuest(COMPUTE, { fuel: 1000, cache: file }).then(
      () => undefined,
      (error) => error,
    );
    assert.ok(isGuestLoadError(error), String(error));
    assert.equal(error.reason, "io");
    assert.ok(error.message.includes(file), error.message);
  });
});

Deno.test("the cache keys on the options the rewriter is given: read once, plain data only", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    let reads = 0;
    // A cost that changes each time it is read: the key and the rewrite
    // must both see the first value.
    const costs = {
      get default() {
        return ++reads;
      },
    };
    const cached = await cache.instrument(compute, { costs });
    assert.equal(reads, 1);
    assert.deepEqual(cached, instrument(compute, { costs: { default: 1 } }));
    await cache.instrument(compute, { costs: { default: 1 } });
    assert.equal(cache.hits, 1);
    class Costs {
      default = 1;
    }
    await assert.rejects(
      () => cache.instrument(compute, { costs: new Costs() }),
      /the rewrite cache keys on plain data: options\.costs is an object of a class/,
    );
    // Values JSON would merge stay apart.
    for (const value of [NaN, -0, 0, null]) {
      await cache.instrument(compute, { costs: { default: value as number } })
        .catch(() => {});
    }
    // -0, 0 and null (read as the default) are keyed apart, though they
    // rewrite alike; NaN is refused by the rewriter, and stores nothing.
    assert.equal(cache.misses, 4);
    assert.equal(listing(directory).length, 4);
  });
});

Deno.test("new FuelMeter refuses a cache, which only FuelMeter.create reads", () => {
  assert.throws(
    () => new FuelMeter(compute, { cache: "somewhere" }),
    /new FuelMeter cannot read a cache.*FuelMeter\.create/,
  );
});

Deno.test("a cache option that is not a directory is a TypeError", async () => {
  for (const cache of [42, null, "", new URL("https://example.com/")]) {
    await assert.rejects(
      () => FuelMeter.create(compute, { cache: cache as string }),
      TypeError,
    );
  }
});

Deno.test("FuelMeter.create without a cache, or of a rewritten module, writes nothing", async () => {
  await withDirectory(async (directory) => {
    const meter = await FuelMeter.create(compute, { fuel: 10 });
    assert.deepEqual(meter.bytes, new FuelMeter(compute, { fuel: 10 }).bytes);
    const rewritten = instrument(compute);
    const cache = new RewriteCache(directory);
    const again = await FuelMeter.create(rewritten, { cache });
    assert.equal(again.bytes, rewritten.bytes);
    assert.deepEqual([cache.hits, cache.misses], [0, 0]);
    assert.deepEqual(listing(directory), []);
  });
});

Deno.test("meters made at once share one entry, and leave no temporary file", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const meters = await Promise.all(
      Array.from({ length: 8 }, () => FuelMeter.create(runaway, { cache })),
    );
    const fresh = new FuelMeter(runaway).bytes;
    for (const meter of meters) assert.deepEqual(meter.bytes, fresh);
    onlyEntry(directory);
    // However their reads and writes interleaved, each was one or the other.
    assert.equal(cache.hits + cache.misses, 8);
    assert.ok(cache.misses >= 1);
    assert.equal(cache.rejected, 0);
    const hits = cache.hits;
    await FuelMeter.create(runaway, { cache });
    assert.equal(cache.hits, hits + 1);
  });
});
