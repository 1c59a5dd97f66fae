/**
 * A hand-written guest that checks a stop flag the way a guest rewritten
 * for the watchdog will: an atomic load of a flag in a shared memory it
 * imports as its last memory, and a call to the host's `on_stop_flag` when
 * it is set, trapping with `unreachable` when the host answers 1.
 */
import { assembleWat } from "../../guest/build.ts";

const FLAG_GUEST_WAT = `
(module
  (import "env" "memory0" (memory $own 1))
  (import "env" "stop_flag" (memory $flag 1 1 shared))
  (import "env" "on_stop_flag" (func $on_stop_flag (result i32)))
  (func $check
    ;; wabt reads a memory name here as an alignment: the flag is memory 1.
    (if (i32.atomic.load 1 (i32.const 0))
      (then (if (call $on_stop_flag) (then unreachable)))))
  ;; Counts its turns in memory 0, so the host can see it ran.
  (func (export "spin")
    (loop $forever
      (call $check)
      (i32.store $own (i32.const 0)
        (i32.add (i32.load $own (i32.const 0)) (i32.const 1)))
      (br $forever))))
`;

let bytes: Uint8Array | undefined;

/** A live flag guest and what the host sees of it. */
export interface FlagGuest {
  /** The flag the guest reads: element 0, over shared memory. */
  flag: Int32Array;
  /** Runs the guest until it traps; returns the trap. */
  spin(): unknown;
  /** How many turns the guest's loop made. */
  turns(): number;
}

/**
 * Instantiates the flag guest.
 *
 * @param onStopFlag The host's answer when the guest finds the flag set: 1 stops it.
 */
export async function flagGuest(
  onStopFlag: (flag: Int32Array) => number,
): Promise<FlagGuest> {
  bytes ??= await assembleWat(FLAG_GUEST_WAT, "flag_guest.wat");
  const own = new WebAssembly.Memory({ initial: 1 });
  const stopFlag = new WebAssembly.Memory({
    initial: 1,
    maximum: 1,
    shared: true,
  });
  const flag = new Int32Array(stopFlag.buffer, 0, 1);
  const { instance } = await WebAssembly.instantiate(
    bytes as Uint8Array<ArrayBuffer>,
    {
      env: {
        memory0: own,
        stop_flag: stopFlag,
        on_stop_flag: () => onStopFlag(flag),
      },
    },
  );
  const spin = instance.exports.spin as () => void;
  return {
    flag,
    spin() {
      try {
        spin();
      } catch (error) {
        return error;
      }
      throw new Error("the flag guest returned, which it never does");
    },
    turns: () => new Int32Array(own.buffer)[0],
  };
}
