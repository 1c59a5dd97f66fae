/**
 * Without `limits.memory`, a guest's own memories may grow to 4 GiB
 * together (in process they are the host's memory): each by an even share
 * of what their minimums leave, written as a declared maximum, so a grow
 * past it returns -1 in every mode. Only pages are counted here: a grow
 * reserves address space, and the kernel commits only touched pages.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  FuelMeter,
  type GuestOptions,
  invokeIsolated,
  isGuestLoadError,
  loadGuest,
} from "../mod.ts";
import { DEFAULT_MEMORY_BYTES } from "../src/module/limits.ts";
import { expectOutcome } from "./support/outcome.ts";
import { runMainHere } from "./support/cli.ts";

const PAGE = 65536;
const TOTAL_PAGES = DEFAULT_MEMORY_BYTES / PAGE;

/** Ten memories of one page, with `grow<i>` and `size<i>` for each. */
const TEN = await assembleWat(`(module
  ${Array.from({ length: 10 }, (_, i) => `(memory $m${i} 1)`).join(" ")}
  ${
  Array.from({ length: 10 }, (_, i) => `
  (func (export "grow${i}") (param i32) (result i32)
    (memory.grow $m${i} (local.get 0)))
  (func (export "size${i}") (result i32) (memory.size $m${i}))`).join("")
})`);

/** One 64-bit memory of one page. */
const WIDE = await assembleWat(`(module (memory i64 1)
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0))))`);

/** Every way `loadGuest` writes limits, a deadline-only load included. */
const MODES: [string, GuestOptions][] = [
  ["plain", {}],
  ["deadline only", { fuel: false, timeout: 600_000 }],
  ["with a table limit only", { limits: { tables: 10 } }],
];

for (const [mode, options] of MODES) {
  Deno.test(`default memory total (${mode}): ten memories grown as far as they go stay within it`, async () => {
    const guest = await loadGuest(TEN, options);
    let pages = 0;
    for (let i = 0; i < 10; i++) {
      // Each asks for all 4 GiB, then for pages one at a time until refused.
      assert.equal(guest.call(`grow${i}`, TOTAL_PAGES - 1), -1);
      let step = 4096;
      while (step > 0) {
        if (guest.call(`grow${i}`, step) === -1) step >>= 1;
      }
      pages += guest.call(`size${i}`) as number;
    }
    // What the ten minimums leave, split evenly: 6,552 pages more each.
    assert.equal(pages, 10 * (1 + Math.floor((TOTAL_PAGES - 10) / 10)));
    assert.ok(pages <= TOTAL_PAGES);
  });
}

Deno.test("default memory total: one 32-bit memory still reaches 4 GiB", async () => {
  const bytes = await assembleWat(`(module (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
  const guest = await loadGuest(bytes, { fuel: 1_000_000_000 });
  assert.equal(guest.call("grow", TOTAL_PAGES - 1), 1);
  assert.equal(guest.call("grow", 1), -1);
});

Deno.test("default memory total: a 64-bit memory stops at 4 GiB, and limits.memory lifts it", async () => {
  const held = await loadGuest(WIDE);
  assert.equal(held.call("grow", BigInt(TOTAL_PAGES)), -1n);
  assert.equal(held.call("grow", BigInt(TOTAL_PAGES - 1)), 1n);
  assert.equal(held.call("grow", 1n), -1n);
  const lifted = await loadGuest(WIDE, { limits: { memory: 2 ** 33 } });
  assert.equal(lifted.call("grow", BigInt(2 * TOTAL_PAGES - 1)), 1n);
  assert.equal(lifted.call("grow", 1n), -1n);
});

Deno.test("default memory total: an explicit limits.memory bounds each memory instead", async () => {
  const guest = await loadGuest(TEN, {
    limits: { memory: TOTAL_PAGES * PAGE },
  });
  for (let i = 0; i < 2; i++) {
    assert.equal(guest.call(`grow${i}`, TOTAL_PAGES - 1), 1);
  }
});

Deno.test("default memory total: an imported memory keeps the maximum its maker gave it", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "memory" (memory $host 1))
    (memory $a 1) (memory $b 1)
    (func (export "grow_host") (param i32) (result i32)
      (memory.grow $host (local.get 0)))
    (func (export "grow_a") (param i32) (result i32)
      (memory.grow $a (local.get 0))))`);
  const memory = new WebAssembly.Memory({ initial: 1 });
  const guest = await loadGuest(bytes, { imports: { env: { memory } } });
  // The two own memories share it: 32,767 pages more each.
  assert.equal(guest.call("grow_a", TOTAL_PAGES / 2), -1);
  assert.equal(guest.call("grow_a", TOTAL_PAGES / 2 - 1), 1);
  assert.equal(guest.call("grow_host", TOTAL_PAGES - 1), 1);
});

Deno.test("default memory total: own memories starting above it are refused, naming limits.memory", async () => {
  const bytes = await assembleWat(`(module (memory 40000) (memory 40000))`);
  for (const options of [{}, { fuel: 1_000_000 }]) {
    await assert.rejects(
      loadGuest(bytes, options),
      (error: unknown) =>
        isGuestLoadError(error) && error.reason === "limits" &&
        error.message ===
          `bytes needs its 2 memories to start at ${
            80_000 * PAGE
          } bytes together, more than the ${DEFAULT_MEMORY_BYTES} a guest's own memories may hold together when limits.memory is not set; set limits.memory (the most bytes each memory may hold, which replaces this default) to at least ${
            40_000 * PAGE
          }, or give the guest smaller memories`,
    );
  }
  await loadGuest(bytes, { limits: { memory: 40_000 * PAGE } });
  const wide = await assembleWat(`(module (memory i64 70000))`);
  await assert.rejects(
    loadGuest(wide),
    (error: unknown) =>
      isGuestLoadError(error) &&
      error.message.startsWith(
        `bytes needs memory 0 to start at ${70_000 * PAGE} bytes, more than`,
      ),
  );
});

Deno.test("default memory total: FuelMeter writes it, and an isolated guest is held to it", async () => {
  const meter = new FuelMeter(WIDE, { fuel: 1_000_000_000 });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const grow = instance.exports.grow as (n: bigint) => bigint;
  assert.equal(grow(BigInt(TOTAL_PAGES)), -1n);
  const isolated = await invokeIsolated(WIDE, "grow", [BigInt(TOTAL_PAGES)]);
  assert.equal(expectOutcome(isolated, "returned").value, -1n);
});

Deno.test("default memory total: the command line holds a guest to it, and refuses one past it in a line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/wide.wasm`, WIDE);
    const held = await runMainHere([
      `${dir}/wide.wasm`,
      "--invoke",
      "grow",
      "--arg",
      String(TOTAL_PAGES),
    ]);
    assert.equal(held.stdout, "grow returned: -1\nSuccess!\n");
    await Deno.writeFile(
      `${dir}/two.wasm`,
      await assembleWat(`(module (memory 40000) (memory 40000))`),
    );
    const refused = await runMainHere([`${dir}/two.wasm`]);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^error: \S+two\.wasm needs its 2 memories to start at 5242880000 bytes together, [^\n]*; load it from code with limits\.memory \(the most bytes each memory may hold\) set to at least 2621440000, which the command line cannot set, or give the guest smaller memories\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
