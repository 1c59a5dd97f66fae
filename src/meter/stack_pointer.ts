/**
 * The shadow stack pointer of a guest compiled by LLVM (C, C++, Rust): a
 * mutable global that every function with a stack frame moves down on entry
 * and back up on exit. A stop skips the exits, so the pointer drifts down
 * with every stop until the stack is gone; putting it back to where it was
 * before the call undoes that.
 *
 * @module
 */

/** Reads and writes a guest's shadow stack pointer. */
export interface StackPointer {
  /** The pointer's value now. */
  get(): number | bigint;
  /** Moves the pointer to `value`. */
  set(value: number | bigint): void;
}

type Fn = (...args: unknown[]) => unknown;

/** Export pairs toolchains use to read and write the stack pointer. */
const SAVE_RESTORE_PAIRS = [
  ["stackSave", "stackRestore"],
  ["emscripten_stack_get_current", "_emscripten_stack_restore"],
  ["emscripten_stack_get_current", "stackRestore"],
] as const;

/**
 * Finds the stack pointer among an instance's exports: the global the
 * rewriter exported (it recognises the pointer of a minified build by its
 * accessors' bodies), the global `__stack_pointer` itself, emscripten's
 * save and restore functions, or wasm-bindgen's
 * `__wbindgen_add_to_stack_pointer`.
 *
 * @param exports The instance's exports.
 * @param added The export name the rewriter gave the pointer, if any.
 * @returns Access to the pointer, or `undefined` when none is exported.
 */
export function findStackPointer(
  exports: WebAssembly.Exports,
  added?: string,
): StackPointer | undefined {
  const named = added === undefined ? undefined : exports[added];
  const global = named instanceof WebAssembly.Global
    ? named
    : exports.__stack_pointer;
  if (global instanceof WebAssembly.Global) {
    return {
      get: () => global.value,
      set: (value) => {
        global.value = value;
      },
    };
  }
  for (const [save, restore] of SAVE_RESTORE_PAIRS) {
    const get = exports[save], set = exports[restore];
    if (typeof get === "function" && typeof set === "function") {
      return {
        get: () => (get as Fn)() as number,
        set: (value) => void (set as Fn)(value),
      };
    }
  }
  const add = exports.__wbindgen_add_to_stack_pointer;
  if (typeof add === "function") {
    const move = add as (delta: number) => number;
    return {
      get: () => move(0),
      set: (value) => void move(Number(value) - move(0)),
    };
  }
  return undefined;
}
