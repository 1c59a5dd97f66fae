/**
 * hash-wasm with and without a FuelMeter, for the integration tests.
 *
 * hash-wasm carries each hasher's module as base64 in its bundle, and builds
 * it itself when a hasher is first made (`WASMInterface` in its
 * `dist/index.esm.js`): `WebAssembly.compile(bytes)` once per algorithm
 * (the module is cached for the bundle's life), then
 * `WebAssembly.instantiate(module, {})` for every hasher. So the meter gets
 * in by wrapping both calls while a hasher is made: the compile hook builds
 * the meter from the bytes it is given and compiles `meter.bytes` instead,
 * and the instantiate hook adds `meter.imports` and attaches the instance.
 * Each hasher's calls (`init`, `update`, `digest`) are plain calls into its
 * instance, so `meter.run` around them covers the work.
 */

import { FuelMeter } from "../../mod.ts";
import type { IHasher } from "hash-wasm";

/** hash-wasm's API, as its ESM bundle exports it. */
export type HashWasm = typeof import("hash-wasm");

const BUNDLE = new URL(
  "./index.esm.js",
  import.meta.resolve("hash-wasm"),
);

/**
 * A fresh copy of hash-wasm's bundle: it keeps each algorithm's compiled
 * module for good, and an import of the same file gives the same module.
 */
export async function freshHashWasm(): Promise<HashWasm> {
  const dir = await Deno.makeTempDir();
  const copy = `${dir}/index.esm.js`;
  await Deno.copyFile(BUNDLE, copy);
  try {
    return await import(`file://${copy}`) as HashWasm;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Makes a hasher with `create` on `glue` (a bundle of its own), metered.
 * The first hasher of an algorithm makes the meter from the bytes hash-wasm
 * compiles; later ones, given that meter, are fresh instances on it.
 *
 * @param glue A bundle from {@linkcode freshHashWasm}.
 * @param create Makes the hasher, such as `(h) => h.createSHA256()`.
 * @param meter The meter of an earlier hasher of the same algorithm.
 */
export async function meteredHasher(
  glue: HashWasm,
  create: (glue: HashWasm) => Promise<IHasher>,
  meter?: FuelMeter,
): Promise<
  { hasher: IHasher; meter: FuelMeter; exports: WebAssembly.Exports }
> {
  const { compile, instantiate } = WebAssembly;
  let metered = meter;
  let exports!: WebAssembly.Exports;
  WebAssembly.compile = (bytes: BufferSource) => {
    if (metered !== undefined) {
      throw new TypeError(
        "this bundle has compiled this algorithm already: pass its meter",
      );
    }
    const view = ArrayBuffer.isView(bytes)
      ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      : new Uint8Array(bytes);
    metered = new FuelMeter(view.slice());
    return compile(metered.bytes);
  };
  const withMeter = async (
    module: WebAssembly.Module,
    imports: WebAssembly.Imports = {},
  ) => {
    if (metered === undefined) {
      throw new TypeError("a metered hasher needs its meter: none was given");
    }
    const instance = await instantiate(module, {
      ...imports,
      ...metered.imports,
    });
    metered.attach(instance);
    exports = instance.exports;
    return instance;
  };
  WebAssembly.instantiate = withMeter as typeof WebAssembly.instantiate;
  try {
    const hasher = await create(glue);
    return { hasher, meter: metered!, exports };
  } finally {
    WebAssembly.compile = compile;
    WebAssembly.instantiate = instantiate;
  }
}

/** `size` bytes of a fixed pattern. */
export function patterned(size: number): Uint8Array<ArrayBuffer> {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 2_654_435_761) >>> 24;
  return data;
}
