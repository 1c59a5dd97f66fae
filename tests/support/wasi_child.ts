/**
 * Runs `hello` with its stdio passed through, and with the directory in
 * its first argument, if any, preopened: run in a child with restricted
 * permissions.
 */
import { runWasi } from "../../mod.ts";
import { wasiGuest } from "./wasi_guests.ts";

const dir = Deno.args[0];
const result = await runWasi(wasiGuest("hello"), {
  args: ["child"],
  env: { GREETING: "hi" },
  preopens: dir === undefined ? [] : [{ host: dir, mode: "read-only" }],
});
Deno.exit(result.outcome === "exited" ? result.code : 99);
