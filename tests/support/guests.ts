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

/**
 * `run` keeps every struct it makes (24 bytes each) in a list until the
 * list holds 2,000,000, then drops it and starts again, for ever: V8's
 * collections, which no stop cuts short, copy and mark all it keeps.
 * Text for binaryen (GC types).
 */
export const STRUCT_HOARDER_WAT = `(module
  (type $node (struct (field i64) (field (ref null $node))))
  (global $kept (mut (ref null $node)) (ref.null $node))
  (global $count (mut i32) (i32.const 0))
  (func (export "run")
    (loop $l
      (global.set $kept (struct.new $node (i64.const 0) (global.get $kept)))
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (if (i32.ge_u (global.get $count) (i32.const 2000000))
        (then (global.set $kept (ref.null $node))
          (global.set $count (i32.const 0))))
      (br $l))))`;
