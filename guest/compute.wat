;; A compute guest: recursion, a tight loop and a call-heavy loop, with
;; results that are easy to check.
(module
  ;; Naive recursive Fibonacci: call-heavy, no loops.
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  ;; 0 + 1 + ... + (n - 1): one tight loop.
  (func (export "sum_to") (param $n i32) (result i64)
    (local $i i32) (local $sum i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $sum))
  (func $mix (param $x i32) (param $y i32) (result i32)
    (i32.xor (i32.mul (local.get $x) (i32.const 0x9e3779b1)) (local.get $y)))
  ;; A loop that calls a small function each time round.
  (func (export "mix_loop") (param $n i32) (result i32)
    (local $i i32) (local $h i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $h (call $mix (local.get $h) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $h)))
