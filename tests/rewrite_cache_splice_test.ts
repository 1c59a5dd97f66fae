/**
 * Rewrite cache entries without the payloads the rewriter copies unchanged:
 * a hit rebuilds the fresh rewrite byte for byte, an input that differs only
 * in those payloads hits and gets its own, any other difference misses,
 * and entries that are damaged, forged or of the older format are replaced.
 */
import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { randomBytes } from "./support/module_bytes.ts";
import { assembleWat } from "../guest/build.ts";
import { loadModule } from "../src/load/load.ts";
import { rewriteThrough } from "../src/cache/rewrite_cache.ts";
import { runWasiWith } from "../src/wasi/wasi.ts";
import { instrumentModule } from "../src/wasm/instrument.ts";
import { FuelMeter, loadGuest, RewriteCache, runWasi } from "../mod.ts";
import { instrument, type InstrumentOptions } from "../src/wasm/mod.ts";
import {
  copiedPayloads,
  joinInPlace,
  joinOutput,
  keyedBytes,
  roomForHit,
  splitOutput,
} from "../src/cache/rewrite_splice.ts";

const MAGIC_LENGTH = "early-exit rewrite 2\n".length;
const LENGTH_AT = MAGIC_LENGTH + 32;
const HEADER = LENGTH_AT + 4 + 32;

function watString(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => `\\${b.toString(16).padStart(2, "0")}`)
    .join("");
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function customSection(name: string, payload: Uint8Array): Uint8Array {
  const named = new TextEncoder().encode(name);
  const content = [...leb(named.length), ...named, ...payload];
  return new Uint8Array([0, ...leb(content.length), ...content]);
}

interface Shape {
  /** The data segments' seeds, lengths, and the active one's offset. */
  seed?: number;
  activeLength?: number;
  activeOffset?: number;
  /** The custom sections' payload seed. */
  customSeed?: number;
  /** The exported reader's name in the name section. */
  reader?: string;
}

/**
 * A guest with an active and a passive data segment and two custom
 * sections (one before every other section, one after), each large
 * enough to be left out of its entry, and a name section.
 */
async function guest(shape: Shape = {}): Promise<Uint8Array> {
  const seed = shape.seed ?? 1;
  const active = randomBytes(shape.activeLength ?? 4096, seed);
  const passive = randomBytes(2048, seed + 1000);
  const module = await assembleWat(`(module
    (memory (export "memory") 1)
    (data (i32.const ${shape.activeOffset ?? 1024}) "${watString(active)}")
    (data $passive "${watString(passive)}")
    (data (i32.const 60000) "short, and so kept whole")
    (func $${shape.reader ?? "peek"} (export "peek") (param i32) (result i32)
      (i32.load8_u (local.get 0)))
    (func (export "init")
      (memory.init $passive (i32.const 16384) (i32.const 0) (i32.const 2048))))`);
  const customSeed = shape.customSeed ?? 7;
  return new Uint8Array([
    ...module.subarray(0, 8),
    ...customSection("early.first", randomBytes(3000, customSeed)),
    ...module.subarray(8),
    ...customSection(".debug_info", randomBytes(5000, customSeed + 1)),
  ]);
}

function entryOf(directory: string): string {
  const names = [...Deno.readDirSync(directory)].map((e) => e.name);
  assert.equal(names.length, 1, names.join(", "));
  return `${directory}/${names[0]}`;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

const OPTION_SETS: InstrumentOptions[] = [
  {},
  { resumable: false },
  { stopFlag: true, deferStart: true },
  { resumable: false, stopFlag: true, stopFlagTraps: true },
];

Deno.test("the payloads left out are the data segments' bytes and the custom sections' contents, not the name section", async () => {
  const bytes = await guest();
  const payloads = copiedPayloads(bytes);
  assert.deepEqual(payloads.map((p) => [p.label, p.to - p.from]), [
    ["c0", 3000],
    ["d0", 4096],
    ["d1", 2048],
    ["c1", 5000],
  ]);
  let places = "";
  const { material, kept } = keyedBytes(bytes, payloads, (text) => {
    places = text;
    return new Uint8Array([1, 2, 3]);
  });
  assert.equal(places.split(",").length, 4);
  assert.equal(kept.length, bytes.length - 3000 - 4096 - 2048 - 5000);
  assert.deepEqual(material.subarray(0, 3), new Uint8Array([1, 2, 3]));
  assert.equal(material.length, kept.length + 3);
  // Past what the reader can follow, nothing is left out (the rewrite of
  // such a module fails, and stores nothing).
  assert.deepEqual(
    copiedPayloads(bytes.subarray(0, bytes.length - 1)).map((p) => p.label),
    ["c0", "d0", "d1"],
  );
  assert.deepEqual(copiedPayloads(new Uint8Array([1, 2, 3])), []);
});

Deno.test("a hit rebuilds the fresh rewrite byte for byte, from an entry that does not hold the payloads", async () => {
  const bytes = await guest();
  for (const options of OPTION_SETS) {
    await withDirectory(async (directory) => {
      const cache = new RewriteCache(directory);
      const fresh = instrument(bytes, options);
      assert.deepEqual(await cache.instrument(bytes, options), fresh);
      const hit = await cache.instrument(bytes, options);
      assert.deepEqual([cache.misses, cache.hits], [1, 1]);
      assert.deepEqual(hit, fresh);
      const entry = await Deno.readFile(entryOf(directory));
      for (const { from } of copiedPayloads(bytes)) {
        assert.ok(
          !contains(entry, bytes.subarray(from, from + 64)),
          `the entry holds the payload at ${from}`,
        );
      }
      assert.ok(entry.length < fresh.bytes.length - 10000, `${entry.length}`);
    });
  }
});

Deno.test("an input that differs only in payload bytes hits, and gets its own payloads; the guest sees its data", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const first = await guest();
    const second = await guest({ seed: 99, customSeed: 42 });
    assert.equal(first.length, second.length);
    assert.notDeepEqual(first, second);
    await cache.instrument(first);
    const hit = await cache.instrument(second);
    assert.deepEqual([cache.misses, cache.hits], [1, 1]);
    assert.deepEqual(hit, instrument(second));

    const loaded = await loadGuest(second, { fuel: 1e6, cache });
    assert.deepEqual([cache.misses, cache.hits], [2, 1]);
    const again = await loadGuest(first, { fuel: 1e6, cache });
    assert.deepEqual([cache.misses, cache.hits], [2, 2]);
    const secondActive = randomBytes(4096, 99);
    const firstActive = randomBytes(4096, 1);
    for (const at of [0, 1, 2000, 4095]) {
      assert.equal(loaded.call("peek", 1024 + at), secondActive[at]);
      assert.equal(again.call("peek", 1024 + at), firstActive[at]);
    }
    loaded.call("init");
    again.call("init");
    const secondPassive = randomBytes(2048, 1099);
    const firstPassive = randomBytes(2048, 1001);
    for (const at of [0, 1000, 2047]) {
      assert.equal(loaded.call("peek", 16384 + at), secondPassive[at]);
      assert.equal(again.call("peek", 16384 + at), firstPassive[at]);
    }
    // One entry per set of options served both inputs.
    assert.equal([...Deno.readDirSync(directory)].length, 2);
  });
});

Deno.test("an input that differs in a segment's length or offset, a short segment or a name misses", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    await cache.instrument(await guest());
    const others = [
      await guest({ activeLength: 4095 }),
      await guest({ activeOffset: 1040 }),
      await guest({ reader: "poke" }),
    ];
    // The short segment's bytes are keyed: change one of them.
    const short = await guest();
    const text = new TextEncoder().encode("short, and so kept whole");
    const at = short.findIndex((_, i) =>
      text.every((byte, j) => short[i + j] === byte)
    );
    assert.ok(at > 0);
    short[at] = "S".charCodeAt(0);
    others.push(short);
    for (const [i, other] of others.entries()) {
      const metered = await cache.instrument(other);
      assert.deepEqual(metered, instrument(other), `input ${i}`);
      assert.equal(cache.hits, 0, `input ${i}`);
    }
    assert.equal(cache.misses, 5);
  });
});

/** Rewrites an entry's metadata, with a digest that matches. */
async function forgeMeta(
  path: string,
  forge: (meta: Record<string, unknown>) => void,
): Promise<void> {
  const file = await Deno.readFile(path);
  const view = new DataView(file.buffer);
  const metaLength = view.getUint32(LENGTH_AT, true);
  const meta = JSON.parse(
    new TextDecoder().decode(file.subarray(HEADER, HEADER + metaLength)),
  );
  forge(meta);
  const newMeta = new TextEncoder().encode(JSON.stringify(meta));
  const out = new Uint8Array(
    HEADER + newMeta.length + file.length - HEADER - metaLength,
  );
  out.set(file.subarray(0, HEADER));
  out.set(newMeta, HEADER);
  out.set(file.subarray(HEADER + metaLength), HEADER + newMeta.length);
  new DataView(out.buffer).setUint32(LENGTH_AT, newMeta.length, true);
  const digest = await crypto.subtle.digest("SHA-256", out.subarray(LENGTH_AT));
  out.set(new Uint8Array(digest), MAGIC_LENGTH);
  await Deno.writeFile(path, out);
}

const FORGERIES: [string, (splices: number[][]) => void][] = [
  ["a reference to the module's header", (s) => {
    s[0]![1] = 0;
  }],
  ["a reference one byte longer", (s) => {
    s[0]![2]! += 1;
  }],
  ["references out of order", (s) => s.reverse()],
  ["a reference past the output", (s) => {
    s[0]![0] = 1e9;
  }],
  ["a reference that is not three numbers", (s) => {
    s[0] = [1, 2];
  }],
  ["a negative place", (s) => {
    s[1]![0] = -1;
  }],
];

// Whoever can write the directory can change the output an entry holds, as
// the design says; but a reference never takes bytes from the input other
// than a payload's, nor puts them out of place.
Deno.test("an entry whose references are forged, digest and all, is rewritten and replaced", async () => {
  const bytes = await guest();
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const fresh = new FuelMeter(bytes, { fuel: 1e6 }).bytes;
    await FuelMeter.create(bytes, { fuel: 1e6, cache });
    const path = entryOf(directory);
    const good = await Deno.readFile(path);
    let rejected = 0;
    for (const [what, forge] of FORGERIES) {
      await forgeMeta(path, (meta) => forge(meta.splices as number[][]));
      const meter = await FuelMeter.create(bytes, { fuel: 1e6, cache });
      assert.deepEqual(meter.bytes, fresh, what);
      assert.equal(cache.rejected, ++rejected, what);
      assert.deepEqual(await Deno.readFile(path), good, `${what}: healed`);
    }
  });
});

Deno.test("a truncated or corrupted entry with references is rewritten and replaced", async () => {
  const bytes = await guest();
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const fresh = instrument(bytes);
    await cache.instrument(bytes);
    const path = entryOf(directory);
    const good = await Deno.readFile(path);
    const damages: [string, (entry: Uint8Array) => Uint8Array][] = [
      ["truncated in its stored output", (e) => e.slice(0, e.length - 100)],
      ["truncated in its metadata", (e) => e.slice(0, HEADER + 10)],
      ["a flipped byte in its stored output", (e) => {
        const copy = e.slice();
        copy[copy.length - 200]! ^= 0x10;
        return copy;
      }],
    ];
    for (const [i, [what, damage]] of damages.entries()) {
      await Deno.writeFile(path, damage(good));
      assert.deepEqual(await cache.instrument(bytes), fresh, what);
      assert.equal(cache.rejected, i + 1, what);
      assert.deepEqual(await Deno.readFile(path), good, `${what}: healed`);
    }
    assert.deepEqual(await cache.instrument(bytes), fresh);
    assert.equal(cache.hits, 1);
  });
});

Deno.test("an entry of the older format, under this key's name, is rewritten and replaced", async () => {
  const bytes = await guest();
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    await cache.instrument(bytes);
    const path = entryOf(directory);
    const good = await Deno.readFile(path);
    const old = good.slice();
    old.set(new TextEncoder().encode("early-exit rewrite 1\n"));
    await Deno.writeFile(path, old);
    assert.deepEqual(await cache.instrument(bytes), instrument(bytes));
    assert.deepEqual([cache.hits, cache.misses, cache.rejected], [0, 2, 1]);
    assert.deepEqual(await Deno.readFile(path), good);
  });
});

Deno.test("a payload the output does not hold byte for byte is stored, not referenced", async () => {
  const input = await guest();
  const payloads = copiedPayloads(input);
  // An output like the input, but for one byte of one payload.
  const output = input.slice();
  const changed = payloads[1]!;
  output[changed.from + 100]! ^= 0xff;
  const { stored, splices } = splitOutput(input, payloads, output);
  assert.deepEqual(
    splices.map(([, from]) => from),
    payloads.filter((p) => p !== changed).map((p) => p.from),
  );
  assert.ok(contains(stored, output.subarray(changed.from, changed.to)));
  assert.deepEqual(joinOutput(input, payloads, stored, splices), output);
  // Another input's payloads go in their place; the stored one stays.
  const other = await guest({ seed: 5, customSeed: 6 });
  const joined = joinOutput(other, payloads, stored, splices)!;
  for (const p of payloads) {
    assert.deepEqual(
      joined.subarray(p.from, p.to),
      p === changed
        ? output.subarray(p.from, p.to)
        : other.subarray(p.from, p.to),
    );
  }
});

Deno.test("runWasi: a command run again reads its rewrite from the cache", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const hello = new URL("../guest/wasi/hello.wasm", import.meta.url);
    const outputs: string[] = [];
    for (let run = 0; run < 2; run++) {
      const result = await runWasi(hello, {
        args: ["cache"],
        env: { EXIT_CODE: "4" },
        cache,
        stdout: "capture",
        stderr: "ignore",
      });
      assert.equal(result.outcome, "exited");
      if (result.outcome === "exited") assert.equal(result.code, 4);
      outputs.push(new TextDecoder().decode(result.stdout));
    }
    assert.deepEqual(outputs, ["hello, cache!\n", "hello, cache!\n"]);
    assert.deepEqual([cache.misses, cache.hits, cache.rejected], [1, 1, 0]);
    // A path works as well, and finds the same entry.
    const third = await runWasi(hello, {
      cache: directory,
      stdout: "ignore",
      stderr: "ignore",
    });
    assert.equal(third.outcome, "exited");
    assert.equal([...Deno.readDirSync(directory)].length, 1);
  });
});

Deno.test("joined in the input's buffer, the output is the same, and the input comes back whole", async () => {
  const input = await guest();
  const options = {};
  const payloads = copiedPayloads(input);
  const output = instrument(input, options).bytes;
  const { stored, splices } = splitOutput(input, payloads, output);
  const { kept } = keyedBytes(input, payloads);
  const other = await guest({ seed: 3, customSeed: 4 });
  const fresh = instrument(other, options).bytes;
  // No room: nothing is done, nothing changed.
  const tight = other.slice();
  assert.equal(joinInPlace(tight, payloads, kept, stored, splices), undefined);
  assert.deepEqual(tight, other);
  const roomy = new Uint8Array(other.length + 4096);
  roomy.set(other);
  const view = roomy.subarray(0, other.length);
  const { kept: otherKept } = keyedBytes(other, payloads);
  const joined = joinInPlace(view, payloads, otherKept, stored, splices)!;
  assert.equal(joined.output.buffer, roomy.buffer);
  assert.deepEqual(joined.output, fresh);
  joined.restore();
  assert.deepEqual(view, other);
  // A forged reference is refused before anything moves.
  const forged = splices.map((s) => [...s] as typeof s);
  forged[0]![1] = 0;
  assert.equal(
    joinInPlace(view, payloads, otherKept, stored, forged),
    undefined,
  );
  assert.deepEqual(view, other);
});

Deno.test("loadGuest from a file: a hit builds the output in the file's buffer; an entry the engine refuses gives the input back, rewritten", async () => {
  await withDirectory(async (directory) => {
    const path = `${directory}/data.wasm`;
    const cacheDirectory = `${directory}/cache`;
    await Deno.writeFile(path, await guest({ seed: 11 }));
    const cache = new RewriteCache(cacheDirectory);
    const active = randomBytes(4096, 11);
    const check = async () => {
      const loaded = await loadGuest(path, { fuel: 1e6, cache });
      for (const at of [0, 17, 4095]) {
        assert.equal(loaded.call("peek", 1024 + at), active[at]);
      }
    };
    await check();
    await check();
    assert.deepEqual([cache.misses, cache.hits], [1, 1]);
    // The way loadGuest reads a file and asks the cache: built in place.
    const aside = new RewriteCache(`${directory}/aside`);
    for (const expected of [false, true]) {
      const loaded = await loadModule(path, {
        compile: false,
        room: (size) => size,
      });
      const rewrite = await rewriteThrough(
        aside,
        loaded.bytes!,
        {},
        instrumentModule,
        async () => {},
        true,
      );
      assert.equal(
        rewrite.metered.bytes.buffer === loaded.bytes!.buffer,
        expected,
      );
      assert.deepEqual(
        rewrite.metered.bytes,
        instrument(await guest({ seed: 11 })).bytes,
      );
    }
    // The stored header, forged with a digest that holds: the engine refuses it.
    const entry = entryOf(cacheDirectory);
    const good = await Deno.readFile(entry);
    const file = good.slice();
    const metaLength = new DataView(file.buffer).getUint32(LENGTH_AT, true);
    file[HEADER + metaLength]! ^= 0xff;
    const digest = await crypto.subtle.digest(
      "SHA-256",
      file.subarray(LENGTH_AT),
    );
    file.set(new Uint8Array(digest), MAGIC_LENGTH);
    await Deno.writeFile(entry, file);
    await check();
    assert.deepEqual([cache.misses, cache.hits, cache.rejected], [2, 1, 1]);
    assert.deepEqual(await Deno.readFile(entry), good);
    await check();
    assert.equal(cache.hits, 2);
  });
});

Deno.test("runWasi never writes to bytes it is given; the command line's own bytes hold the hit's output", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    const path = new URL("../guest/wasi/hello.wasm", import.meta.url);
    const original = await Deno.readFile(path);
    const run = async (bytes: Uint8Array, owns: boolean) => {
      const result = await runWasiWith(bytes, {
        args: ["bytes"],
        cache,
        stdout: "capture",
        stderr: "ignore",
      }, { ownsBytes: owns });
      assert.equal(new TextDecoder().decode(result.stdout), "hello, bytes!\n");
    };
    const given = original.slice();
    await run(given, false);
    await run(given, false);
    assert.equal(cache.hits, 1);
    assert.deepEqual(given, original);
    // Read as the command line reads it with --cache: with room after it.
    const { bytes } = await loadModule(path, {
      compile: false,
      room: roomForHit,
    });
    await run(bytes!, true);
    assert.equal(cache.hits, 2);
    // Written over: the hit's output was built in their buffer.
    assert.notDeepEqual(bytes, original);
  });
});

Deno.test("in place, an output shorter than its input (the guest's code metadata dropped) is built, and the input comes back whole", async () => {
  const base = await guest();
  for (const kind of ["branch_hint", "instr_freq"]) {
    shorterOutput(base, `metadata.code.${kind}`);
  }
});

function shorterOutput(base: Uint8Array, dropped: string): void {
  const input = new Uint8Array([
    ...base,
    ...customSection(dropped, new Uint8Array(20000)),
  ]);
  const payloads = copiedPayloads(input);
  // Not a payload to splice back: the rewriter drops it.
  assert.ok(payloads.every(({ from }) => from < base.length), dropped);
  const output = instrument(input, { resumable: false }).bytes;
  assert.ok(output.length < input.length, `${output.length} ${input.length}`);
  const { stored, splices } = splitOutput(input, payloads, output);
  const { kept } = keyedBytes(input, payloads);
  const roomy = new Uint8Array(input.length + 100);
  roomy.set(input);
  const view = roomy.subarray(0, input.length);
  const joined = joinInPlace(view, payloads, kept, stored, splices)!;
  assert.deepEqual(joined.output, output);
  joined.restore();
  assert.deepEqual(view, input);
}
