/**
 * brotli-wasm (wasm-bindgen) with and without a FuelMeter, for the
 * integration tests. Its glue builds its imports privately and takes only
 * bytes or a Module, so the meter's import gets in by wrapping
 * `WebAssembly.instantiate` while the glue initialises.
 */

import { FuelMeter } from "../../mod.ts";
import { importFreshCopy } from "./fresh_import.ts";

/** The parts of brotli-wasm's API the tests use. */
export interface Brotli {
  compress(buf: Uint8Array, options?: { quality?: number }): Uint8Array;
  decompress(buf: Uint8Array): Uint8Array;
}

type Glue = Brotli & { default(input: WebAssembly.Module): Promise<unknown> };

const GLUE = new URL(
  "./pkg.web/brotli_wasm.js",
  import.meta.resolve("brotli-wasm"),
);
const WASM = new URL("./brotli_wasm_bg.wasm", GLUE);

/** A fresh copy of the glue: wasm-bindgen's keeps its first instance. */
function freshGlue(): Promise<Glue> {
  return importFreshCopy<Glue>(GLUE);
}

/** brotli-wasm as it comes. */
export async function plainBrotli(): Promise<Brotli> {
  const glue = await freshGlue();
  await glue.default(await WebAssembly.compile(await Deno.readFile(WASM)));
  return glue;
}

/**
 * brotli-wasm metered; given a meter, a fresh instance on that meter (what
 * to do when stops have leaked too much of its heap).
 */
export async function meteredBrotli(
  meter?: FuelMeter,
): Promise<
  { brotli: Brotli; meter: FuelMeter; exports: WebAssembly.Exports }
> {
  meter ??= new FuelMeter(await Deno.readFile(WASM));
  let exports!: WebAssembly.Exports;
  const glue = await freshGlue();
  const instantiate = WebAssembly.instantiate;
  const withMeter = (
    module: WebAssembly.Module,
    imports: WebAssembly.Imports,
  ) =>
    instantiate(module, { ...imports, ...meter!.imports }).then((instance) => {
      meter!.attach(instance);
      exports = instance.exports;
      return instance;
    });
  WebAssembly.instantiate = withMeter as typeof WebAssembly.instantiate;
  try {
    await glue.default(await WebAssembly.compile(meter.bytes));
  } finally {
    WebAssembly.instantiate = instantiate;
  }
  return { brotli: glue, meter, exports };
}

/**
 * brotli-wasm metered by a meter whose checks trap when its budget is spent:
 * those bytes need no import of their own, so the glue's `init` takes them
 * as they are, with nothing patched.
 *
 * @param fuel The budget.
 */
export async function trappingBrotli(
  fuel: number,
): Promise<{ brotli: Brotli; meter: FuelMeter }> {
  const meter = new FuelMeter(await Deno.readFile(WASM), {
    fuel,
    resumable: false,
  });
  const glue = await freshGlue();
  const exports = await glue.default(await WebAssembly.compile(meter.bytes));
  meter.attach(exports as WebAssembly.Exports);
  return { brotli: glue, meter };
}
