/**
 * Host values: the references a script passes in by number, and the
 * `spectest` module every script may import.
 *
 * @module
 */

/** The fuel import's answer: a budget that no spec test can use up. */
export const BOTTOMLESS = 1n << 62n;

const hostRefs = new Map<number, object>();

/**
 * The JS value standing for `ref.extern N` / `ref.host N`. The same object
 * is used by both runs, so references can be compared by identity.
 */
export function hostRef(id: number): object {
  let ref = hostRefs.get(id);
  if (ref === undefined) {
    ref = Object.freeze({ hostRef: id });
    hostRefs.set(id, ref);
  }
  return ref;
}

export function hostRefId(value: unknown): number | undefined {
  for (const [id, ref] of hostRefs) if (ref === value) return id;
  return undefined;
}

interface Table64Descriptor {
  element: "anyfunc";
  initial: bigint;
  maximum: bigint;
  address: "i64";
}

/**
 * A fresh `spectest` module: each run gets its own, so one run's writes to
 * the shared memory or table cannot leak into the other's.
 */
export function createSpectest(): WebAssembly.ModuleImports {
  const print = () => {};
  const table64 = new WebAssembly.Table(
    {
      element: "anyfunc",
      initial: 10n,
      maximum: 20n,
      address: "i64",
    } satisfies Table64Descriptor as unknown as WebAssembly.TableDescriptor,
  );
  return {
    print,
    print_i32: print,
    print_i64: print,
    print_f32: print,
    print_f64: print,
    print_i32_f32: print,
    print_f64_f64: print,
    global_i32: new WebAssembly.Global({ value: "i32" }, 666),
    global_i64: new WebAssembly.Global({ value: "i64" }, 666n),
    global_f32: new WebAssembly.Global({ value: "f32" }, 666.6),
    global_f64: new WebAssembly.Global({ value: "f64" }, 666.6),
    table: new WebAssembly.Table({
      element: "anyfunc",
      initial: 10,
      maximum: 20,
    }),
    table64,
    memory: new WebAssembly.Memory({ initial: 1, maximum: 2 }),
  };
}
