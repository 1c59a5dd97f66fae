/**
 * Rewrites the module in the file named by its first argument (or loads it
 * with `loadGuest`, given its options as JSON in the second, by a URL it
 * serves when the third is `url`) and prints, as
 * JSON, how much the process's peak resident memory grew while it did, and
 * the error if the module was refused.
 */

import { loadGuest } from "../../mod.ts";
import { instrument } from "../../src/wasm/instrument.ts";

const kib = (field: string) =>
  Number(
    new RegExp(`${field}:\\s+(\\d+)`).exec(
      Deno.readTextFileSync("/proc/self/status"),
    )![1],
  ) * 1024;

const bytes = Deno.readFileSync(Deno.args[0]!);
const before = kib("VmRSS");
let error = "";
try {
  if (Deno.args[1] === undefined) instrument(bytes, { validate: false });
  else if (Deno.args[2] !== "url") {
    await loadGuest(bytes, JSON.parse(Deno.args[1]));
  } else {
    // Served over HTTP as application/wasm, and loaded by its URL.
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () =>
        new Response(bytes, {
          headers: { "content-type": "application/wasm" },
        }),
    );
    try {
      const { port } = server.addr as Deno.NetAddr;
      await loadGuest(
        `http://127.0.0.1:${port}/guest.wasm`,
        JSON.parse(Deno.args[1]),
      );
    } finally {
      await server.shutdown();
    }
  }
} catch (thrown) {
  error = String(thrown);
}
console.log(JSON.stringify({ grew: kib("VmHWM") - before, error }));
