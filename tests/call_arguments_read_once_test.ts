/**
 * What a caller hands a call is read once, into values of the host's own,
 * and a failure to read it is one branded line: a call's arguments (an
 * element getter that throws, or gives the check one value and the call
 * another), a cost table (a proxy whose traps throw), and runWasi's stdin
 * (bytes or a stream with properties of their own over the real ones). Each
 * once surfaced as the caller's own error. A sparse array of a length in the
 * billions is refused before the copy of the arguments would walk it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  FuelMeter,
  invokeIsolated,
  isExportError,
  loadGuest,
  runWasi,
} from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";

const COMPUTE = new URL("../guest/compute.wasm", import.meta.url);
const COPY = new URL("../guest/wasi/copy.wasm", import.meta.url);

/** Throws, as a hostile getter or trap does. */
function fail(): never {
  throw new Error("the caller's own property was used");
}

/** `[10]` whose element is a getter that throws. */
function unreadableArguments(): unknown[] {
  return Object.defineProperty([0], "0", { get: fail });
}

Deno.test("arguments that cannot be read are one ExportError naming the export, for every call", async () => {
  const plain = await loadGuest(COMPUTE);
  const async = await loadGuest(COMPUTE, { async: true });
  const calls: [string, () => unknown][] = [
    ["invoke", () => plain.invoke("fib", unreadableArguments())],
    ["invokeAsync", () => async.invokeAsync("fib", unreadableArguments())],
    [
      "invokeIsolated",
      () => invokeIsolated(COMPUTE, "fib", unreadableArguments()),
    ],
  ];
  for (const [where, call] of calls) {
    await assert.rejects(
      async () => await call(),
      (error: Error) =>
        isExportError(error) &&
        /^the arguments of export "fib" cannot be read .*; pass a plain array$/
          .test(error.message),
      where,
    );
  }
});

Deno.test("each argument is read once: the value checked is the value the guest gets", async () => {
  const guest = await loadGuest(COMPUTE, { interruptible: true });
  let reads = 0;
  // A first read sees 10; any later one would see a string.
  const args = Object.defineProperty([0], "0", {
    get: () => reads++ === 0 ? 10 : "ten",
  });
  const result = guest.invoke("fib", args, { timeout: 60_000 });
  assert.equal(result.outcome, "returned");
  assert.equal(result.value, 55);
  assert.equal(reads, 1);
});

Deno.test("a sparse array of a length in the billions is refused before it is walked", async () => {
  const guest = await loadGuest(COMPUTE);
  const args: unknown[] = [];
  args.length = 2 ** 32 - 1;
  assert.throws(
    () => guest.invoke("fib", args),
    (error: Error) =>
      isExportError(error) && /given 4294967295 arguments/.test(error.message),
  );
});

Deno.test("a cost table that cannot be read is one TypeError naming costs", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  const tables = [
    new Proxy({}, { get: fail, ownKeys: fail }),
    Object.defineProperty({}, "default", { get: fail, enumerable: true }),
    { operators: new Proxy({}, { ownKeys: fail }) },
  ];
  for (const costs of tables) {
    for (
      const [where, use] of [
        ["instrument", () => instrument(bytes, { costs })],
        ["FuelMeter", () => new FuelMeter(bytes, {}, { costs })],
        ["loadGuest", () => loadGuest(bytes, { fuel: 100, costs })],
      ] as const
    ) {
      await assert.rejects(
        async () => await use(),
        (error: Error) =>
          error instanceof TypeError &&
          /^costs cannot be read/.test(error.message),
        where,
      );
    }
  }
});

Deno.test("runWasi's stdin, bytes or a stream, with own properties that throw, is read for what it holds", async () => {
  for (const name of ["length", "byteLength", "buffer", "subarray"]) {
    const own = name === "subarray" ? { value: fail } : { get: fail };
    const bytes = Object.defineProperty(
      new TextEncoder().encode("given\n"),
      name,
      own,
    );
    const chunk = Object.defineProperty(
      new TextEncoder().encode("streamed\n"),
      name,
      own,
    );
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk);
        controller.close();
      },
    });
    Object.defineProperty(stream, "getReader", { value: fail });
    Object.defineProperty(stream, "locked", { get: fail });
    for (
      const [stdin, expected] of [[bytes, "given\n"], [
        stream,
        "streamed\n",
      ]] as const
    ) {
      const result = await runWasi(COPY, {
        args: ["-", "-"],
        stdin,
        stdout: "capture",
        stderr: "capture",
      });
      assert.equal(result.outcome, "exited", name);
      assert.equal(new TextDecoder().decode(result.stdout), expected, name);
    }
  }
});
