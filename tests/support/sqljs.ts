/** sql.js (SQLite) with and without a FuelMeter, for the integration tests. */

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { FuelMeter, type FuelMeterOptions } from "../../mod.ts";

/** The parts of sql.js's API the tests use. */
export interface SqlJs {
  Database: new () => Database;
}

/** A sql.js database. */
export interface Database {
  exec(sql: string): { columns: string[]; values: unknown[][] }[];
  run(sql: string): Database;
  close(): void;
}

type InitSqlJs = (config?: {
  instantiateWasm?: (
    imports: WebAssembly.Imports,
    receive: (instance: WebAssembly.Instance) => void,
  ) => object;
}) => Promise<SqlJs>;

const GLUE = fileURLToPath(import.meta.resolve("sql.js"));
const WASM = new URL("./sql-wasm.wasm", import.meta.resolve("sql.js"));
const require = createRequire(import.meta.url);

/**
 * A fresh copy of sql.js's glue: `initSqlJs` keeps its first module for
 * good, so each instance needs its own copy.
 */
function freshInit(): InitSqlJs {
  delete require.cache[GLUE];
  return require(GLUE) as InitSqlJs;
}

/** sql.js as it comes. */
export function plainSqlJs(): Promise<SqlJs> {
  return freshInit()({
    instantiateWasm(imports, receive) {
      Deno.readFile(WASM)
        .then((bytes) => WebAssembly.instantiate(bytes, imports))
        .then(({ instance }) => receive(instance));
      return {};
    },
  });
}

/** sql.js metered: emscripten's instantiateWasm hook hands it the metered bytes. */
export async function meteredSqlJs(options: FuelMeterOptions = {}): Promise<
  { SQL: SqlJs; meter: FuelMeter }
> {
  const meter = new FuelMeter(await Deno.readFile(WASM), options);
  const SQL = await freshInit()({
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(meter.bytes, { ...imports, ...meter.imports })
        .then(({ instance }) => {
          meter.attach(instance);
          receive(instance);
        });
      return {};
    },
  });
  return { SQL, meter };
}
