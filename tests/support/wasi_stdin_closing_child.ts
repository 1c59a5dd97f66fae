/**
 * Runs, on this process's stdin, a guest that closes its stdin, then
 * `copy - -` under a short deadline that stops it while it waits for
 * input (and meanwhile another, which is refused), then `copy - -` until
 * stdin ends. Prints `stopped` once the first runs are over, and what the
 * last one copied.
 */
import { runWasi, type WasiOptions } from "../../mod.ts";
import { assembleWat } from "../../guest/build.ts";
import { text, wasiGuest } from "./wasi_guests.ts";

const closer = await assembleWat(`(module
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $close (i32.const 0)))))`);
const options: WasiOptions = {
  args: ["-", "-"],
  stdin: "inherit",
  stdout: "capture",
  stderr: "ignore",
};
const closed = await runWasi(closer, { ...options, timeout: 60_000 });
const running = runWasi(wasiGuest("copy"), { ...options, timeout: 300 });
// One run at a time reads this process's stdin: a second is refused.
const meanwhile = await runWasi(wasiGuest("copy"), {
  ...options,
  timeout: 60_000,
}).then(
  (result) => result.outcome,
  (error) => error instanceof TypeError ? "refused" : String(error),
);
const first = await running;
console.log(
  closed.outcome === "exited" && first.outcome === "timeout" &&
    meanwhile === "refused"
    ? "stopped"
    : `ran: ${closed.outcome}, ${first.outcome}, ${meanwhile}`,
);
const second = await runWasi(wasiGuest("copy"), {
  ...options,
  timeout: 60_000,
});
console.log(`${second.outcome}: ${text(second.stdout)}`);
