/**
 * Runs a command that reads stdin, with this process's stdin and a
 * timeout, prints how it ended, and returns without `Deno.exit`: the
 * process ends only if the run left nothing pending.
 */
import { runWasi } from "../../mod.ts";
import { wasiGuest } from "./wasi_guests.ts";

const result = await runWasi(wasiGuest("copy"), {
  args: ["-", "-"],
  stdin: "inherit",
  stdout: "capture",
  timeout: Number(Deno.args[0] ?? 200),
});
console.log(result.outcome, new TextDecoder().decode(result.stdout).trim());
