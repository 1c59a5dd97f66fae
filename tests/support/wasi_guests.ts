/** The WASI command guests the tests run, by name. */

/** A committed WASI guest: `hello`, `copy`, `loop`, `sleep`, `sieve`, `hello_rust`, `sleep_rust`. */
export function wasiGuest(name: string): URL {
  return new URL(`../../guest/wasi/${name}.wasm`, import.meta.url);
}

/** The text of captured output. */
export function text(bytes: Uint8Array | undefined): string {
  return new TextDecoder().decode(bytes);
}
