/** QuickJS (quickjs-emscripten) with and without a FuelMeter, for the integration tests. */

import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
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

/** QuickJS metered: emscripten's instantiateWasm hook hands it the metered bytes. */
export async function meteredQuickJS(
  source?: InstrumentedModule,
): Promise<
  {
    QuickJS: QuickJSWASMModule;
    meter: FuelMeter;
    exports: WebAssembly.Exports;
  }
> {
  const meter = new FuelMeter(source ?? await quickjsBytes);
  let exports!: WebAssembly.Exports;
  const variant = newVariant<QuickJSSyncVariant>(releaseSync, {
    emscriptenModule: {
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
