/**
 * A guest's bytes given in a `Uint8Array` that carries properties of its own
 * over the real ones (a `length`, `buffer` or `byteOffset` getter that
 * throws, a `subarray` that throws) are read for what they are, through
 * `%TypedArray%.prototype`: every entry point that takes bytes loads,
 * meters and runs the guest, where each once failed with the getter's own
 * unbranded error. A `URL` is read for its real address, whatever its own
 * `pathname` or `protocol` say. And bytes in a `SharedArrayBuffer` whose
 * prototype was swapped for `ArrayBuffer`'s are still copied before they are
 * read.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { FuelMeter, invokeIsolated, loadGuest, runWasi } from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";

const RUNAWAY = new URL("../guest/runaway.wasm", import.meta.url);
const HELLO = new URL("../guest/wasi/hello.wasm", import.meta.url);

/** Throws, as a hostile getter or method does. */
function fail(): never {
  throw new Error("the bytes' own property was used");
}

/** The properties a caller's view may carry of its own. */
const OWN = [
  "length",
  "byteLength",
  "byteOffset",
  "buffer",
  "subarray",
  "slice",
];

/** A copy of `bytes` whose own `name` throws. */
function withOwn(bytes: Uint8Array, name: string): Uint8Array {
  const copy = bytes.slice();
  const method = name === "subarray" || name === "slice";
  return Object.defineProperty(
    copy,
    name,
    method ? { value: fail } : { get: fail },
  );
}

Deno.test("bytes with own properties that throw load, meter and run as the bytes they hold", async () => {
  const runaway = await Deno.readFile(RUNAWAY);
  const hello = await Deno.readFile(HELLO);
  for (const name of OWN) {
    const plain = await loadGuest(withOwn(runaway, name), {
      interruptible: true,
    });
    assert.equal(
      plain.invoke("spin", [], { timeout: 1 }).outcome,
      "timeout",
      name,
    );
    const metered = await loadGuest(withOwn(runaway, name), { fuel: 1000 });
    assert.equal(metered.invoke("spin").outcome, "fuel_exhausted", name);
    const meter = new FuelMeter(withOwn(runaway, name));
    assert.ok(
      WebAssembly.validate(meter.bytes as Uint8Array<ArrayBuffer>),
      name,
    );
    assert.ok(instrument(withOwn(runaway, name)).bytes.length > 0, name);
    // A child process and a WASI run each, for two of them: the view is
    // made the same way whatever the property.
    if (name !== "length" && name !== "subarray") continue;
    const isolated = await invokeIsolated(withOwn(runaway, name), "spin", [], {
      fuel: 1000,
    });
    assert.equal(isolated.outcome, "fuel_exhausted", name);
    const run = await runWasi(withOwn(hello, name), {
      args: ["there"],
      stdout: "capture",
    });
    assert.equal(run.outcome, "exited", name);
    assert.match(new TextDecoder().decode(run.stdout), /there/, name);
  }
});

Deno.test("bytes in a SharedArrayBuffer dressed as an ArrayBuffer are copied before they are read", async () => {
  const runaway = await Deno.readFile(RUNAWAY);
  const shared = new SharedArrayBuffer(runaway.length);
  new Uint8Array(shared).set(runaway);
  Object.setPrototypeOf(shared, ArrayBuffer.prototype);
  assert.ok(shared instanceof ArrayBuffer);
  // Written over as soon as the load has begun: the load reads the copy it
  // took at once, as it does for any shared bytes.
  const loading = loadGuest(shared as unknown as ArrayBuffer, { fuel: 1000 });
  new Uint8Array(shared).fill(0);
  const guest = await loading;
  assert.equal(guest.invoke("spin").outcome, "fuel_exhausted");
});

Deno.test("a URL whose own getters throw or lie loads the guest at its real address", async () => {
  const tricks: [string, PropertyDescriptor][] = [
    ["pathname", { get: fail }],
    ["protocol", { get: fail }],
    ["pathname", { get: () => "/nowhere/else.wasm" }],
    ["href", { get: () => "http://127.0.0.1:9/else.wasm" }],
  ];
  for (const [name, descriptor] of tricks) {
    const what = `${name}, ${descriptor.get === fail ? "throws" : "lies"}`;
    const url = () => Object.defineProperty(new URL(RUNAWAY), name, descriptor);
    const guest = await loadGuest(url(), { fuel: 1000 });
    assert.equal(guest.invoke("spin").outcome, "fuel_exhausted", what);
    const isolated = await invokeIsolated(url(), "spin", [], { fuel: 1000 });
    assert.equal(isolated.outcome, "fuel_exhausted", what);
    const hello = Object.defineProperty(new URL(HELLO), name, descriptor);
    const run = await runWasi(hello, { stdout: "capture" });
    assert.equal(run.outcome, "exited", what);
  }
});

Deno.test("URLs given as a cache, a preopen's host or an isolated call's imports are read at their real address", async () => {
  const directory = await Deno.makeTempDir();
  const imports = `${directory}/imports.ts`;
  await Deno.writeTextFile(imports, "export default {};");
  try {
    for (const name of ["href", "pathname", "protocol"]) {
      const tricky = (href: string) =>
        Object.defineProperty(new URL(href), name, { get: fail });
      const cache = tricky(`file://${directory}/cache/`);
      const guest = await loadGuest(RUNAWAY, { fuel: 1000, cache });
      assert.equal(guest.invoke("spin").outcome, "fuel_exhausted", name);
      const isolated = await invokeIsolated(RUNAWAY, "spin", [], {
        fuel: 1000,
        imports: tricky(`file://${imports}`),
        permissions: { read: [imports] },
      });
      assert.equal(isolated.outcome, "fuel_exhausted", name);
      const run = await runWasi(HELLO, {
        stdout: "capture",
        preopens: [{
          host: tricky(`file://${directory}`),
          guest: "/data",
          mode: "read-only",
        }],
      });
      assert.equal(run.outcome, "exited", name);
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
