/** The bundled guests the tests load, by what they are for. */

/** The seed guest: `exit_early` calls `env.interrupt_execution`. */
export const SEED = new URL(
  "../../guest/early_exit_guest.wasm",
  import.meta.url,
);
/** The seed guest built from Rust. */
export const SEED_RUST = new URL(
  "../../guest/early_exit_guest_rust.wasm",
  import.meta.url,
);
/** Pure computation: `fib`, `sum_to`, `mix_loop` and the like. */
export const COMPUTE = new URL("../../guest/compute.wasm", import.meta.url);
/** Loops that never end by themselves and never call the host. */
export const RUNAWAY = new URL("../../guest/runaway.wasm", import.meta.url);
