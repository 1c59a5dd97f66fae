import assert from "./support/assert.ts";
import { expectOutcome } from "./support/outcome.ts";
import {
  meteredBrotli,
  plainBrotli,
  trappingBrotli,
} from "./support/brotli.ts";

const TEXT = new TextEncoder().encode(
  Array.from({ length: 800 }, (_, i) => `line ${i}: ${(i * 7919) % 1013}\n`)
    .join(""),
);

Deno.test("brotli-wasm: the same bytes metered and not", async () => {
  const plain = await plainBrotli();
  const { brotli, meter } = await meteredBrotli();
  for (const quality of [1, 6, 11]) {
    const packed = expectOutcome(
      meter.run(() => brotli.compress(TEXT, { quality })),
      "returned",
    ).value as Uint8Array;
    assert.deepEqual(
      packed,
      plain.compress(TEXT, { quality }),
      `quality ${quality}`,
    );
    const unpacked = meter.run(() => brotli.decompress(packed));
    assert.deepEqual(expectOutcome(unpacked, "returned").value, TEXT);
  }
});

Deno.test("brotli-wasm: 1,000 consecutive stops, then a round trip", async () => {
  const { brotli, meter } = await meteredBrotli();
  const packed = brotli.compress(TEXT, { quality: 11 });
  for (let i = 0; i < 1_000; i++) {
    // Stops at varying depths inside the decoder.
    const fuel = 20_000 + (i % 7) * 15_000;
    const result = meter.run(() => brotli.decompress(packed), { fuel });
    assert.equal(result.outcome, "fuel_exhausted", `stop ${i}`);
  }
  const again = meter.run(() => brotli.decompress(brotli.compress(TEXT)));
  assert.deepEqual(expectOutcome(again, "returned").value, TEXT);
});

Deno.test("brotli-wasm: without grace fuel, wasm-bindgen's own stack runs out within 40 stops", async () => {
  const { brotli, meter } = await meteredBrotli();
  let failure: string | undefined;
  for (let i = 0; i < 40 && failure === undefined; i++) {
    const result = meter.run(() => brotli.compress(TEXT, { quality: 11 }), {
      fuel: 50_000,
      grace: 0,
    });
    if (result.outcome === "error") failure = result.error.message;
  }
  assert.match(failure ?? "no failure", /out of js stack/);
});

Deno.test("brotli-wasm: a fresh instance on the same meter, when stops have leaked its heap", async () => {
  const { brotli, meter } = await meteredBrotli();
  for (let i = 0; i < 5; i++) {
    // Each stop inside the encoder leaks its state (megabytes): wasm-bindgen
    // never frees what the stopped call allocated.
    expectOutcome(
      meter.run(() => brotli.compress(TEXT, { quality: 11 }), {
        fuel: 100_000,
      }),
      "fuel_exhausted",
    );
  }
  meter.setFuel(1e12);
  const before = meter.consumed;
  const fresh = await meteredBrotli(meter);
  assert.equal(fresh.meter, meter);
  const result = meter.run(() =>
    fresh.brotli.decompress(fresh.brotli.compress(TEXT))
  );
  assert.deepEqual(expectOutcome(result, "returned").value, TEXT);
  assert.ok(meter.consumed > before, "the books carry on");
  assert.equal(meter.consumed + meter.remaining, before + 1e12);
});

Deno.test("brotli-wasm: bytes metered to trap go through its own init unpatched, and the budget stops it", async () => {
  const input = new TextEncoder().encode("drop-in ".repeat(10_000));
  const plain = await plainBrotli();
  const roomy = await trappingBrotli(Number.MAX_SAFE_INTEGER);
  assert.deepEqual(roomy.brotli.compress(input), plain.compress(input));
  assert.ok(roomy.meter.consumed > 0);
  // Enough to instantiate it (its memory and data, about 650,000), far
  // too little to compress.
  const tight = await trappingBrotli(1_000_000);
  assert.throws(() => tight.brotli.compress(input));
  assert.ok(tight.meter.exhausted);
  assert.equal(tight.meter.stopReason, "fuel");
  assert.equal(tight.meter.consumed + tight.meter.remaining, 1_000_000);
});
