/** The WASI command guests the tests run, by name. */

import assert from "./assert.ts";
import { assembleWat } from "../../guest/build.ts";
import { runWasi } from "../../mod.ts";

/** A committed WASI guest: `hello`, `copy`, `loop`, `sleep`, `sieve`, `hello_rust`, `sleep_rust`. */
export function wasiGuest(name: string): URL {
  return new URL(`../../guest/wasi/${name}.wasm`, import.meta.url);
}

/** The text of captured output. */
export function text(bytes: Uint8Array | undefined): string {
  return new TextDecoder().decode(bytes);
}

/** A WASI reactor: it imports from WASI and exports `_initialize`, no `_start`. */
export async function wasiReactor(): Promise<Uint8Array> {
  return await assembleWat(`(module
    (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
    (memory (export "memory") 1)
    (func (export "_initialize"))
    (func (export "add") (param i32 i32) (result i32)
      (i32.add (local.get 0) (local.get 1))))`);
}

/**
 * A WAT function `$report (param $errno i32)` that writes the errno's two
 * digits and a space to stdout, through the `fd_write` import named
 * `$write` (its iovec at 8, the digits at 600).
 *
 * @param write The name the guest gives its `fd_write` import.
 * @returns The function's text.
 */
export function reportErrnoWat(write: string): string {
  return `(func $report (param $errno i32)
      (i32.store8 (i32.const 600)
        (i32.add (i32.const 48) (i32.div_u (local.get $errno) (i32.const 10))))
      (i32.store8 (i32.const 601)
        (i32.add (i32.const 48) (i32.rem_u (local.get $errno) (i32.const 10))))
      (i32.store8 (i32.const 602) (i32.const 32))
      (i32.store (i32.const 8) (i32.const 600))
      (i32.store (i32.const 12) (i32.const 3))
      (drop (call $${write} (i32.const 1) (i32.const 8) (i32.const 1)
        (i32.const 20))))`;
}

/**
 * Runs a guest that prints errnos (see {@linkcode reportErrnoWat}) with
 * `directory/inside` preopened as `/sandbox`, and returns the errnos.
 *
 * @param guest The guest's bytes.
 * @param directory The directory holding `inside`.
 * @returns The errnos, in the order printed.
 */
export async function sandboxErrnos(
  guest: Uint8Array,
  directory: string,
): Promise<string[]> {
  const result = await runWasi(guest, {
    preopens: [{ host: `${directory}/inside`, guest: "/sandbox" }],
    stdout: "capture",
    timeout: 30_000,
  });
  assert.equal(result.outcome, "exited");
  return text(result.stdout).trim().split(" ");
}
