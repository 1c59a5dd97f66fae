/** QuickJS (quickjs-emscripten) with and without a FuelMeter, for the integration tests. */

import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from "quickjs-emscripten-core";
import releaseSyncPackage from "@jitl/quickjs-wasmfile-release-sync";
import { FuelMeter } from "../../mod.ts";
import type { InstrumentedModule } from "../../src/wasm/mod.ts";

const WASM = new URL(
  "./emscripten-module.wasm",
  import.meta.resolve("@jitl/quickjs-wasmfile-release-sync"),
);

// The package's types describe its CommonJS face; its default export is the variant.
const releaseSync = releaseSyncPackage as unknown as QuickJSSyncVariant;

/** QuickJS's own bytes, as npm ships them. */
export const quickjsBytes: Promise<Uint8Array<ArrayBuffer>> = Deno.readFile(
  WASM,
);

/** QuickJS as it comes. */
export async function plainQuickJS(): Promise<QuickJSWASMModule> {
  return await newQuickJSWASMModuleFromVariant(releaseSync);
}

/**
 * QuickJS metered: emscripten's instantiateWasm hook hands it the metered
 * bytes. Given a meter, a fresh instance is attached to it; given a memory,
 * the glue uses it rather than making its own (QuickJS imports its memory,
 * so a meter's `limits.memory` needs one whose maximum is within it).
 */
export async function meteredQuickJS(
  source?: InstrumentedModule,
  given?: FuelMeter,
  memory?: WebAssembly.Memory,
): Promise<
  {
    QuickJS: QuickJSWASMModule;
    meter: FuelMeter;
    exports: WebAssembly.Exports;
  }
> {
  const meter = given ?? new FuelMeter(source ?? await quickjsBytes);
  let exports!: WebAssembly.Exports;
  const variant = newVariant<QuickJSSyncVariant>(releaseSync, {
    emscriptenModule: {
      ...(memory === undefined ? {} : { wasmMemory: memory }),
      instantiateWasm(
        imports: WebAssembly.Imports,
        receive: (instance: WebAssembly.Instance) => void,
      ) {
        WebAssembly.instantiate(meter.bytes, { ...imports, ...meter.imports })
          .then(({ instance }) => {
            meter.attach(instance);
            exports = instance.exports;
            receive(instance);
          });
        return {};
      },
    } as never,
  });
  const QuickJS = await newQuickJSWASMModuleFromVariant(variant);
  return { QuickJS, meter, exports };
}

/** Evaluates `code` and returns its value as JSON, or throws its error. */
export function evaluate(vm: QuickJSContext, code: string): unknown {
  return vm.unwrapResult(vm.evalCode(code)).consume((value) => vm.dump(value));
}

/**
 * Sets `vm`'s interrupt counter: QuickJS counts jumps and calls down from
 * 10,000 there and asks the interrupt handler at 0, so 1 makes it ask at
 * the next one. The counter's place in the context is the build's, so it
 * is found by watching: inside the handler it has just been set to 10,000,
 * and a short loop then takes it down. Leaves the runtime without an
 * interrupt handler. The setter views the memory afresh each time, since
 * a grown memory detaches the old buffer.
 */
export function interruptCounter(
  QuickJS: QuickJSWASMModule,
  runtime: QuickJSRuntime,
  vm: QuickJSContext,
): (value: number) => void {
  const context = (vm as unknown as { ctx: { value: number } }).ctx.value;
  const words = () =>
    new Int32Array(QuickJS.getWasmMemory().buffer, context, 128);
  let found: number[] | undefined;
  runtime.setInterruptHandler(() => {
    found ??= [...words().keys()].filter((i) => words()[i] === 10_000);
    return false;
  });
  evaluate(vm, "for (let i = 0; i < 30000; i++);");
  runtime.removeInterruptHandler();
  const before = found!.map((i) => words()[i]);
  evaluate(vm, "for (let i = 0; i < 100; i++);");
  const counters = found!.filter((i, k) => words()[i] < before[k]);
  if (counters.length !== 1) {
    throw new Error(`no single interrupt counter in the context: ${counters}`);
  }
  const address = context + 4 * counters[0];
  return (value) => {
    new Int32Array(QuickJS.getWasmMemory().buffer, address, 1)[0] = value;
  };
}

/** JS programs of every kind (recursion, objects, strings, sort, JSON, classes, errors), each ending in a value. */
export const QUICKJS_PROGRAMS: readonly string[] = [
  "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } fib(20)",
  "Array.from({ length: 2000 }, (_, i) => (i * 7919) % 1009).sort((a, b) => a - b).slice(0, 5)",
  "JSON.stringify({ a: [1, 2, { b: 'c' }], d: null, e: 1.5e10 })",
  "'The quick brown fox'.replace(/(\\w+)/g, (w) => w.split('').reverse().join(''))",
  "let m = new Map(); for (let i = 0; i < 500; i++) m.set('k' + (i % 37), i); [...m].length",
  "[Math.sqrt(2), Math.sin(1), 2 ** 53 + 1, 0.1 + 0.2].map(String)",
  "class P { #x; constructor(x) { this.#x = x } get twice() { return 2 * this.#x } } new P(21).twice",
  "try { null.x } catch (e) { e instanceof TypeError && e.message }",
];

/** A JS program that never ends. */
export const SPIN_JS = "while (true) {}";
