import assert from "./support/assert.ts";
import * as plain from "hash-wasm";
import type { IHasher } from "hash-wasm";
import { isAborted, isDeadlineExceeded, isFuelExhausted } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import {
  freshHashWasm,
  type HashWasm,
  meteredHasher,
  patterned,
} from "./support/hash_wasm.ts";
import { stopFromWorker } from "./support/worker_stop.ts";

const DATA = patterned(1 << 20);
/** 16 MiB: about 1.2G fuel through sha256, so a 5M cap stops it early. */
const LARGE = patterned(16 << 20);

/** The algorithms checked, each made through hash-wasm's own API. */
const ALGORITHMS: [
  string,
  (glue: HashWasm) => Promise<IHasher>,
  (data: Uint8Array) => Promise<string>,
][] = [
  ["sha256", (h) => h.createSHA256(), plain.sha256],
  ["sha512", (h) => h.createSHA512(), plain.sha512],
  ["blake3", (h) => h.createBLAKE3(), (d) => plain.blake3(d)],
  ["xxhash64", (h) => h.createXXHash64(), (d) => plain.xxhash64(d)],
  ["md5", (h) => h.createMD5(), plain.md5],
];

/** Hashes `data` from a fresh start. */
function hash(hasher: IHasher, data: Uint8Array): string {
  return hasher.init().update(data).digest("hex");
}

Deno.test("hash-wasm: the same digests metered and not", async () => {
  const glue = await freshHashWasm();
  for (const [name, create, reference] of ALGORITHMS) {
    const { hasher, meter } = await meteredHasher(glue, create);
    const before = meter.consumed;
    const result = expectOutcome(
      meter.run(() => hash(hasher, DATA)),
      "returned",
    );
    assert.equal(result.value, await reference(DATA), name);
    assert.ok(result.fuel!.consumed > DATA.length / 8, name);
    assert.equal(meter.consumed - before, result.fuel!.consumed);
  }
});

Deno.test("hash-wasm: a fuel budget stops hashing a large buffer; the hasher then holds part of the data until init(), and works again after it", async () => {
  const glue = await freshHashWasm();
  const { hasher, meter } = await meteredHasher(glue, (h) => h.createSHA256());
  const expected = await plain.sha256(LARGE);
  const fuel = 5_000_000;
  const stopped = expectOutcome(
    meter.run(() => hash(hasher, LARGE), { fuel }),
    "fuel_exhausted",
  );
  assert.ok(isFuelExhausted(stopped.error));
  assert.ok(stopped.fuel!.consumed <= fuel);
  assert.equal(meter.stopReason, "fuel");
  assert.equal(meter.remaining, Infinity); // the cap never replaced the tank

  // No error says the update was cut short: digest() hashes the part of
  // the data the stopped update took in.
  const partial = expectOutcome(
    meter.run(() => hasher.digest("hex")),
    "returned",
  );
  assert.notEqual(partial.value, expected);
  // init() starts over, on the same instance.
  const again = meter.run(() => hash(hasher, LARGE));
  assert.equal(expectOutcome(again, "returned").value, expected);

  // A hasher saved before a stop can be loaded and carry on.
  const half = LARGE.length / 2;
  const saving = meter.run(() =>
    hasher.init().update(LARGE.subarray(0, half)).save()
  );
  const saved = expectOutcome(saving, "returned").value as Uint8Array;
  expectOutcome(
    meter.run(() => hasher.update(LARGE.subarray(half)), { fuel }),
    "fuel_exhausted",
  );
  const resumed = meter.run(() =>
    hasher.load(saved).update(LARGE.subarray(half)).digest("hex")
  );
  assert.equal(expectOutcome(resumed, "returned").value, expected);

  // A new hasher is a new instance on the same meter: the books carry on.
  const consumed = meter.consumed;
  const fresh = await meteredHasher(glue, (h) => h.createSHA256(), meter);
  const sum = meter.run(() => hash(fresh.hasher, DATA));
  assert.equal(expectOutcome(sum, "returned").value, await plain.sha256(DATA));
  assert.ok(meter.consumed > consumed);

  // The bundle keeps the metered module for this algorithm: a hasher made
  // without the meter's imports (the one-shot API makes one) cannot link.
  await assert.rejects(
    () => glue.sha256(DATA),
    /Import #0 "early-exit": module is not an object or function/,
  );
});

Deno.test("hash-wasm: blake3's shadow stack pointer, moved where stops land, is put back after each", async () => {
  const glue = await freshHashWasm();
  const { hasher, meter, exports } = await meteredHasher(
    glue,
    (h) => h.createBLAKE3(),
  );
  const pointer = exports.__stack_pointer as WebAssembly.Global;
  const before = pointer.value;
  const seen = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const result = meter.run(() => hash(hasher, DATA), {
      fuel: 100_000 + i * 37_017,
      onStopping: () => void seen.add(pointer.value),
    });
    expectOutcome(result, "fuel_exhausted");
    assert.equal(pointer.value, before, `stop ${i}`);
  }
  assert.ok([...seen].some((value) => value !== before), "stops in frames");
  assert.equal(
    expectOutcome(meter.run(() => hash(hasher, DATA)), "returned").value,
    await plain.blake3(DATA),
  );
});

Deno.test("hash-wasm: an endless stream hashed until a deadline, a StopSignal from a Worker, or an aborted AbortSignal stops it; the hasher works after init()", async () => {
  const glue = await freshHashWasm();
  const { hasher, meter } = await meteredHasher(glue, (h) => h.createSHA256());
  const expected = await plain.sha256(DATA);
  const chunk = DATA.subarray(0, 1 << 16);
  const endless = () => {
    hasher.init();
    for (;;) hasher.update(chunk);
  };

  const late = expectOutcome(meter.run(endless, { timeout: 100 }), "timeout");
  assert.ok(isDeadlineExceeded(late.error));
  assert.equal(meter.stopReason, "deadline");
  assert.equal(
    expectOutcome(meter.run(() => hash(hasher, DATA)), "returned").value,
    expected,
  );

  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      endless();
    }, { stop })
  );
  assert.ok(isAborted(expectOutcome(stopped, "aborted").error));
  assert.equal(meter.stopReason, "stop");
  assert.equal(
    expectOutcome(meter.run(() => hash(hasher, DATA)), "returned").value,
    expected,
  );

  // run holds the thread: an AbortSignal stops it only when aborted before.
  const aborted = meter.run(endless, { signal: AbortSignal.abort("no") });
  assert.ok(isAborted(expectOutcome(aborted, "aborted").error));
  assert.equal(meter.stopReason, "abort");
  assert.equal(
    expectOutcome(meter.run(() => hash(hasher, DATA)), "returned").value,
    expected,
  );
});
