;; A guest that never stops on its own and never calls the host: only fuel,
;; a deadline or an abort can end these calls.
(module
  (memory (export "memory") 1)
  ;; The smallest runaway: a loop that branches to itself.
  (func (export "spin")
    (loop $forever (br $forever)))
  ;; A runaway that does work and records its progress in memory[0], so a
  ;; host can see how far it got before it was stopped.
  (func (export "count_forever")
    (local $i i32)
    (loop $forever
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (i32.store (i32.const 0) (local.get $i))
      (br $forever)))
  ;; Unbounded recursion through a mutual pair, without any loop.
  (func $ping (export "ping") (param $n i64) (result i64)
    (return_call $pong (i64.add (local.get $n) (i64.const 1))))
  (func $pong (param $n i64) (result i64)
    (return_call $ping (local.get $n))))
