/**
 * esbuild-wasm's browser build, run in this process (`worker: false`), with
 * and without a FuelMeter, for the integration tests.
 *
 * esbuild's Go glue (its copy of `wasm_exec.js`) instantiates the module
 * with `WebAssembly.instantiate(module, importObject)`, so the meter's
 * imports get in by wrapping that call while `initialize` runs. The glue
 * enters the guest only through its `run` and `resume` exports, and from its
 * own callbacks (the timer its in-process "worker" sets for each request, and
 * timers the Go scheduler asks for), never from the caller's stack: a
 * `meter.run` around `esbuild.transform(...)` would cover nothing but the
 * queueing of the request. So the glue gets an instance whose `run` and
 * `resume` go through `meter.run` each time the glue enters the guest from
 * outside it, under the options of the transform in flight.
 */

import { createRequire } from "node:module";
import {
  type CallOutcome,
  FuelMeter,
  type MeterRunOptions,
} from "../../mod.ts";
import { importFreshCopy } from "./fresh_import.ts";

/** The parts of esbuild's browser API the tests use. */
export interface Esbuild {
  initialize(options: {
    wasmModule: WebAssembly.Module;
    worker: boolean;
  }): Promise<void>;
  transform(
    input: string,
    options: { loader: string; minify?: boolean },
  ): Promise<{ code: string; warnings: unknown[] }>;
  stop(): Promise<void>;
}

/** esbuild-wasm's `esbuild.wasm` (14 MB, built by Go). */
export const ESBUILD_WASM: string = createRequire(import.meta.url).resolve(
  "esbuild-wasm/esbuild.wasm",
);

/** The browser build's glue, next to the wasm in the package. */
export const ESBUILD_GLUE: URL = new URL(
  "./esm/browser.js",
  `file://${ESBUILD_WASM}`,
);

/** A fresh copy of the browser glue: it keeps one service per module. */
function freshGlue(): Promise<Esbuild> {
  return importFreshCopy<Esbuild>(ESBUILD_GLUE);
}

/** esbuild as it comes, running in this process. */
export async function plainEsbuild(): Promise<Esbuild> {
  const esbuild = await freshGlue();
  const wasmModule = await WebAssembly.compile(
    await Deno.readFile(ESBUILD_WASM),
  );
  await esbuild.initialize({ wasmModule, worker: false });
  return esbuild;
}

/**
 * Options for a piece of work (a transform): `fuel` and `timeout` are the
 * whole work's, shared out among the glue's entries into the guest; the
 * rest is given to each entry's `meter.run`. `onEntry` is called as each
 * entry begins.
 */
export type WorkOptions = MeterRunOptions & { onEntry?: () => void };

/** A metered esbuild. */
export interface MeteredEsbuild {
  esbuild: Esbuild;
  meter: FuelMeter;
  /**
   * Runs `work` (a transform) with every entry of the glue into the guest
   * under `options` until it settles.
   */
  within<T>(options: WorkOptions, work: () => Promise<T>): Promise<T>;
  /** How each entry into the guest ended, oldest first. */
  outcomes: CallOutcome[];
  /**
   * Stops esbuild's service (which clears the Go scheduler's timers) and
   * initialises a new Go instance of the metered module, attached to the
   * same meter: what to do after a stop.
   */
  restart(): Promise<void>;
}

/** The metered module, compiled once per meter. */
const compiled = new WeakMap<FuelMeter, Promise<WebAssembly.Module>>();

/**
 * esbuild metered; given a meter (whose rewrite of the 14 MB module then
 * is not done again), a fresh glue and instance on that meter.
 */
export async function meteredEsbuild(
  given?: FuelMeter,
): Promise<MeteredEsbuild> {
  const meter = given ?? new FuelMeter(await Deno.readFile(ESBUILD_WASM));
  if (!compiled.has(meter)) {
    compiled.set(meter, WebAssembly.compile(meter.bytes));
  }
  const wasmModule = await compiled.get(meter)!;
  const outcomes: CallOutcome[] = [];
  let current: WorkOptions = {};
  let deadline: number | undefined;
  let budget: number | undefined;
  let depth = 0;
  /**
   * Wraps one instance's entries: Go's runtime does not survive being cut
   * short, so once a stop ends an entry, the glue's later entries into that
   * instance are refused with the same error instead of running Go on a
   * broken heap.
   */
  const entries = () => {
    let stopped: CallOutcome | undefined;
    return (name: string, fn: (...args: unknown[]) => unknown) =>
    (
      ...args: unknown[]
    ) => {
      // Go calling back into Go through the glue (an import whose
      // JavaScript resumes Go) is part of the entry already running.
      if (depth > 0) return fn(...args);
      if (stopped !== undefined && "error" in stopped) throw stopped.error;
      const { onEntry, ...options } = current;
      onEntry?.();
      if (deadline !== undefined) {
        options.timeout = Math.max(1, deadline - performance.now());
      }
      if (budget !== undefined) options.fuel = budget;
      depth++;
      let result: CallOutcome;
      try {
        result = meter.run(() => fn(...args), { ...options, label: name });
      } finally {
        depth--;
      }
      outcomes.push(result);
      if (budget !== undefined) budget -= result.fuel?.consumed ?? 0;
      if (result.outcome === "returned") return result.value;
      stopped = result;
      throw result.error;
    };
  };
  const initialize = async (esbuild: Esbuild) => {
    const enter = entries();
    const instantiate = WebAssembly.instantiate;
    const withMeter = async (
      module: WebAssembly.Module,
      imports: WebAssembly.Imports,
    ) => {
      WebAssembly.instantiate = instantiate; // for this one call only
      const instance = await instantiate(module, {
        ...imports,
        ...meter.imports,
      });
      meter.attach(instance);
      const exports: Record<string, unknown> = { ...instance.exports };
      for (const name of ["run", "resume"]) {
        exports[name] = enter(
          name,
          instance.exports[name] as (...args: unknown[]) => unknown,
        );
      }
      // The glue checks `instanceof WebAssembly.Instance`, then reads only
      // `exports`.
      return Object.create(WebAssembly.Instance.prototype, {
        exports: { value: Object.freeze(exports) },
      }) as WebAssembly.Instance;
    };
    WebAssembly.instantiate = withMeter as typeof WebAssembly.instantiate;
    try {
      await esbuild.initialize({ wasmModule, worker: false });
    } finally {
      WebAssembly.instantiate = instantiate;
    }
  };
  const esbuild = await freshGlue();
  await initialize(esbuild);
  const within = async <T>(
    options: WorkOptions,
    work: () => Promise<T>,
  ): Promise<T> => {
    const { timeout, fuel, ...rest } = options;
    current = rest;
    deadline = timeout === undefined ? undefined : performance.now() + timeout;
    budget = fuel;
    try {
      return await work();
    } finally {
      current = {};
      deadline = undefined;
      budget = undefined;
    }
  };
  const restart = async () => {
    await esbuild.stop();
    await initialize(esbuild);
  };
  return { esbuild, meter, within, outcomes, restart };
}

/** TypeScript of `count` small functions, for esbuild to strip. */
export function generatedTypeScript(count: number): string {
  return Array.from(
    { length: count },
    (_, i) =>
      `export function f${i}(x: number, y: string = "${i}"): number {\n` +
      `  const z: Array<number> = [x, ${i}, y.length];\n` +
      `  return z.reduce((a: number, b: number) => a * ${i % 7} + b, 0);\n}\n`,
  ).join("");
}

/**
 * esbuild.wasm's bytes, and imports that satisfy its Go glue's imports
 * without doing anything: for tests and benches that only load the guest
 * (a large real module) and never run it.
 */
export async function esbuildToLoad(): Promise<{
  bytes: Uint8Array<ArrayBuffer>;
  imports: Record<string, Record<string, () => void>>;
}> {
  const bytes = await Deno.readFile(ESBUILD_WASM);
  const imports: Record<string, Record<string, () => void>> = {};
  for (
    const { module, name } of WebAssembly.Module.imports(
      await WebAssembly.compile(bytes),
    )
  ) {
    (imports[module] ??= {})[name] = () => {};
  }
  return { bytes, imports };
}
