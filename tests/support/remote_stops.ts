/**
 * Imports mod.ts by `http:` URL from the server given as the first
 * argument, and stops a guest in each mode whose code starts something by
 * a URL beside its own (the isolated child, the watchdog's and the listing
 * threads), printing one line per mode. Run in its own process (with
 * `--no-lock`), so that the random port does not end up in the project's
 * lock file.
 */
import type * as local from "../../mod.ts";

const base = new URL(Deno.args[0]);
const remote: typeof local = await import(new URL("mod.ts", base).href);
const runaway = new Uint8Array(
  await (await fetch(new URL("guest/runaway.wasm", base))).arrayBuffer(),
);
const hello = new Uint8Array(
  await (await fetch(new URL("guest/wasi/hello.wasm", base))).arrayBuffer(),
);

const plain = await remote.loadGuest(runaway, { timeout: 20 });
console.log(`plain call: ${plain.invoke("spin").outcome}`);

const async = await remote.loadGuest(runaway, { async: true });
const asyncCall = await async.invokeAsync("spin", [], { timeout: 20 });
console.log(`async call: ${asyncCall.outcome}`);

const isolated = await remote.invokeIsolated(runaway, "spin", [], {
  timeout: 200,
});
console.log(`isolated call: ${isolated.outcome}`);

const directory = await Deno.makeTempDir();
try {
  const command = await remote.runWasi(hello, {
    args: ["remote"],
    stdout: "capture",
    stderr: "capture",
    timeout: 10_000,
    preopens: [{ host: directory, guest: "/data" }],
  });
  console.log(
    `WASI command: ${command.outcome} ${
      JSON.stringify(new TextDecoder().decode(command.stdout))
    }`,
  );
} finally {
  await Deno.remove(directory, { recursive: true });
}

const meter = await remote.FuelMeter.create(runaway);
const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
meter.attach(instance);
const spin = instance.exports.spin as () => void;
console.log(`FuelMeter run: ${meter.run(spin, { timeout: 20 }).outcome}`);
