/** The WASI command guests the tests run, by name. */

import { assembleWat } from "../../guest/build.ts";

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
