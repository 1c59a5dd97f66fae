/**
 * What the tests of `instrument()` share: WAT assembled by wabt (or binaryen
 * for what wabt cannot parse), a metering host that grants fuel and records
 * its calls, and assertions on behaviour kept and input rejected.
 *
 * @module
 */

import assert from "./assert.ts";
import wabtInit from "wabt";
import { isInvalidModule } from "../../src/errors.ts";
import {
  instrument,
  type InstrumentOptions,
} from "../../src/wasm/instrument.ts";
import type { Bytes } from "./module_bytes.ts";

export const FEATURES = {
  exceptions: true,
  simd: true,
  threads: true,
  multi_memory: true,
  memory64: true,
  tail_call: true,
  gc: true,
  function_references: true,
  extended_const: true,
  relaxed_simd: true,
  bulk_memory: true,
  reference_types: true,
  multi_value: true,
  sat_float_to_int: true,
  sign_extension: true,
  mutable_globals: true,
};

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabtInstance: Wabt | undefined;
export async function wabt(): Promise<Wabt> {
  wabtInstance ??= await wabtInit();
  return wabtInstance;
}

/** wabt's `validate` takes the features again, though its types omit them. */
export function validateWat(module: ReturnType<Wabt["parseWat"]>): void {
  (module.validate as (features: typeof FEATURES) => void)(FEATURES);
}

/** Assembles WAT with wabt, name section included. */
export async function wat(source: string): Promise<Bytes> {
  const module = (await wabt()).parseWat("test.wat", source, FEATURES);
  try {
    validateWat(module);
    return module.toBinary({ write_debug_names: true }).buffer as Bytes;
  } finally {
    module.destroy();
  }
}

/** Disassembles a module to text, with wabt. */
export async function disassemble(bytes: Bytes): Promise<string> {
  const module = (await wabt()).readWasm(bytes, FEATURES);
  try {
    return module.toText({});
  } finally {
    module.destroy();
  }
}

/**
 * Assembles WAT with binaryen, for what wabt cannot parse (GC, call_ref),
 * with every feature but those named in `without` (such as `Strings`,
 * whose types binaryen would write for a string builtin's `externref`).
 */
export async function watBinaryen(
  source: string,
  without: readonly string[] = [],
): Promise<Bytes> {
  const binaryen = (await import("binaryen")).default;
  const module = binaryen.parseText(source);
  try {
    // Not all in binaryen's typings, but in its table of features.
    const features = binaryen.Features as unknown as Record<string, number>;
    let enabled = features.All!;
    for (const feature of without) enabled &= ~features[feature]!;
    module.setFeatures(enabled);
    assert.ok(module.validate(), "binaryen rejected the test module");
    return module.emitBinary() as Bytes;
  } finally {
    module.dispose();
  }
}

export interface Metered {
  instance: WebAssembly.Instance;
  exports: Record<string, unknown>;
  fuel: WebAssembly.Global;
  /** Fuel used so far: what the host granted minus what is left. */
  used(): bigint;
  /** Arguments of every `out_of_fuel` call. */
  calls: Array<[bigint, bigint]>;
}

/**
 * Instruments and instantiates `bytes` with a host that grants fuel in
 * chunks of `grant` (always enough for the cost asked).
 */
export async function meter(
  bytes: Bytes,
  options: InstrumentOptions & {
    grant?: bigint;
    imports?: WebAssembly.Imports;
    onOutOfFuel?: (counter: bigint, cost: bigint) => bigint | undefined;
  } = {},
): Promise<Metered> {
  const { grant: _grant, imports: _imports, onOutOfFuel: _hook, ...rewrite } =
    options;
  const metered = instrument(bytes, rewrite);
  assert.ok(WebAssembly.validate(metered.bytes), "the output must validate");
  const grant = options.grant ?? 1n << 40n;
  let granted = 0n;
  const calls: Array<[bigint, bigint]> = [];
  const imports: WebAssembly.Imports = {
    ...options.imports,
    [metered.importModule]: {
      [metered.importName]: (counter: bigint, cost: bigint) => {
        calls.push([counter, cost]);
        const custom = options.onOutOfFuel?.(counter, cost);
        if (custom !== undefined) return custom;
        const needed = -counter;
        const amount = needed > grant ? needed : grant;
        granted += amount;
        return counter + amount;
      },
    },
  };
  const { instance } = await WebAssembly.instantiate(metered.bytes, imports);
  const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
  return {
    instance,
    exports: instance.exports as Record<string, unknown>,
    fuel,
    used: () => granted - (fuel.value as bigint),
    calls,
  };
}

export type Fn = (...args: unknown[]) => unknown;

/** Runs `fn` and returns how much fuel it used. */
export function cost(m: Metered, name: string, ...args: unknown[]): bigint {
  const before = m.used();
  (m.exports[name] as Fn)(...args);
  return m.used() - before;
}

/**
 * Checks that `bytes` behaves the same instrumented: each call returns the
 * same value (or throws the same kind of error) on both.
 */
export async function assertSameBehaviour(
  bytes: Bytes,
  calls: Array<[string, ...unknown[]]>,
  imports: () => WebAssembly.Imports = () => ({}),
): Promise<void> {
  assert.ok(WebAssembly.validate(bytes), "the input must validate");
  const original = await WebAssembly.instantiate(bytes, imports());
  const metered = await meter(bytes, { imports: imports() });
  const run = (exports: WebAssembly.Exports, [name, ...args]: [
    string,
    ...unknown[],
  ]) => {
    try {
      return { value: (exports[name] as Fn)(...args) };
    } catch (error) {
      return { error: (error as Error).constructor.name };
    }
  };
  for (const call of calls) {
    assert.deepEqual(
      run(metered.instance.exports, call),
      run(original.instance.exports, call),
      `${call[0]}(${call.slice(1).join(", ")})`,
    );
  }
  assert.ok(metered.used() > 0n, "the guest must have used fuel");
}

export function assertInvalid(bytes: Uint8Array, message?: RegExp): void {
  try {
    instrument(bytes);
  } catch (error) {
    assert.ok(isInvalidModule(error), `not an InvalidModule: ${error}`);
    assert.equal(typeof error.offset, "number");
    if (message) assert.match(error.message, message);
    return;
  }
  assert.fail("instrument() accepted a malformed module");
}

/** A guest rewritten by `instrument()`, and compiled. */
export interface Rewritten {
  metered: ReturnType<typeof instrument>;
  module: WebAssembly.Module;
}

const rewrites = new Map<Bytes, Map<boolean, Rewritten>>();

/**
 * `bytes` rewritten with resumable or trapping checks, and compiled, once
 * a process, for tests that sweep budgets: the rewrite does not depend on
 * the budget (`initialFuel` is only the fuel global's starting value), so
 * each run sets it on the fuel global of a fresh instance, before any of
 * the guest's code runs (a guest with a start function cannot).
 */
export function rewrittenOnce(bytes: Bytes, resumable: boolean): Rewritten {
  let kinds = rewrites.get(bytes);
  if (kinds === undefined) rewrites.set(bytes, kinds = new Map());
  let found = kinds.get(resumable);
  if (found === undefined) {
    const metered = instrument(bytes, { resumable });
    found = {
      metered,
      module: new WebAssembly.Module(metered.bytes as BufferSource),
    };
    kinds.set(resumable, found);
  }
  return found;
}
