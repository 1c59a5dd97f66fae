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

/**
 * `spin` loops for ever and `sum(n)` adds `n` down to 1: a stop's target
 * and a quick call that must return, for the watchdog's clock tests.
 */
export const SPIN_AND_SUM_WAT = `(module
  (func (export "spin") (loop $l (br $l)))
  (func (export "sum") (param $n i32) (result i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
    (local.get $s)))`;

/** A start function that loops for ever and never calls the host. */
export const RUNAWAY_START_WAT = `(module
  (func $start (loop $forever (br $forever)))
  (start $start))`;
