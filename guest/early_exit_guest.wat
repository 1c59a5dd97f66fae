;; The seed's guest: `exit_early` asks the host to stop it. If the host lets
;; it carry on, it returns 42, which the runner reports as "did not error".
(module
  (import "env" "interrupt_execution" (func $interrupt_execution))
  (func (export "exit_early") (result i32)
    call $interrupt_execution
    i32.const 42))
