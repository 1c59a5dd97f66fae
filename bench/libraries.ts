/**
 * QuickJS (quickjs-emscripten) and SQLite (sql.js) as the benchmarks load
 * them: as they come, and metered through a `FuelMeter` that emscripten's
 * `instantiateWasm` hook hands the metered bytes, as docs/other-loaders.md
 * shows. Each call makes a fresh instance of the library.
 */
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSSyncVariant,
} from "quickjs-emscripten-core";
import releaseSyncPackage from "@jitl/quickjs-wasmfile-release-sync";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { FuelMeter, type FuelMeterOptions } from "../mod.ts";

/** QuickJS's `emscripten-module.wasm`, as npm ships it. */
export const QUICKJS_WASM = new URL(
  "./emscripten-module.wasm",
  import.meta.resolve("@jitl/quickjs-wasmfile-release-sync"),
);

/** sql.js's `sql-wasm.wasm`, as npm ships it. */
export const SQLJS_WASM = new URL(
  "./sql-wasm.wasm",
  import.meta.resolve("sql.js"),
);

// The package's types describe its CommonJS face; its default export is the variant.
const releaseSync = releaseSyncPackage as unknown as QuickJSSyncVariant;

type Receive = (instance: WebAssembly.Instance) => void;

/** An emscripten `instantiateWasm` hook that instantiates `bytes`. */
function instantiateWith(bytes: Uint8Array, meter?: FuelMeter) {
  return (imports: WebAssembly.Imports, receive: Receive) => {
    WebAssembly.instantiate(
      bytes as Uint8Array<ArrayBuffer>,
      meter ? { ...imports, ...meter.imports } : imports,
    ).then(({ instance }) => {
      meter?.attach(instance);
      receive(instance);
    });
    return {};
  };
}

/** A fresh QuickJS context, on its own instance of the module. */
export async function quickjsContext(
  bytes: Uint8Array,
  meter?: FuelMeter,
): Promise<QuickJSContext> {
  const variant = newVariant<QuickJSSyncVariant>(releaseSync, {
    emscriptenModule: {
      instantiateWasm: instantiateWith(meter?.bytes ?? bytes, meter),
    } as never,
  });
  return (await newQuickJSWASMModuleFromVariant(variant)).newContext();
}

/** Evaluates `code` in `vm` and returns its value as a string. */
export function evaluate(vm: QuickJSContext, code: string): string {
  return vm.unwrapResult(vm.evalCode(code)).consume((value) =>
    String(vm.dump(value))
  );
}

/** The parts of sql.js's API the benchmarks use. */
export interface SqlJs {
  Database: new () => Database;
}

/** A sql.js database. */
export interface Database {
  exec(sql: string): { columns: string[]; values: unknown[][] }[];
  run(sql: string): Database;
  prepare(sql: string): Statement;
  close(): void;
}

/** A sql.js prepared statement. */
export interface Statement {
  bind(values: unknown[]): boolean;
  step(): boolean;
  get(): unknown[];
  reset(): void;
  free(): boolean;
}

type InitSqlJs = (config: {
  instantiateWasm: (imports: WebAssembly.Imports, receive: Receive) => object;
}) => Promise<SqlJs>;

const require = createRequire(import.meta.url);
const SQLJS_GLUE = fileURLToPath(import.meta.resolve("sql.js"));

/**
 * sql.js on a fresh instance: `initSqlJs` keeps its first module for good,
 * so each instance loads its own copy of the glue.
 */
export async function sqljs(
  bytes: Uint8Array,
  meter?: FuelMeter,
): Promise<SqlJs> {
  delete require.cache[SQLJS_GLUE];
  const init = require(SQLJS_GLUE) as InitSqlJs;
  return await init({
    instantiateWasm: instantiateWith(meter?.bytes ?? bytes, meter),
  });
}

/** A meter of `bytes`, with no budget to reach. */
export function meterOf(
  bytes: Uint8Array,
  options: FuelMeterOptions = {},
): FuelMeter {
  return new FuelMeter(bytes, options);
}
