/**
 * Lua 5.4 (wasmoon, built by emscripten) with and without a FuelMeter, for
 * the integration tests and the bench. Its glue reads and instantiates its
 * wasm itself and takes no `instantiateWasm` hook, so the meter's bytes and
 * imports get in by wrapping `WebAssembly.instantiate` while the factory
 * initialises.
 */

import { fileURLToPath } from "node:url";
import { type LuaEngine, LuaEventMasks, LuaFactory } from "wasmoon";
import { FuelMeter, type FuelMeterOptions } from "../../mod.ts";

/** wasmoon's `glue.wasm`, as npm ships it. */
export const LUA_WASM = new URL("./glue.wasm", import.meta.resolve("wasmoon"));

/** Lua's own bytes, as npm ships them. */
export const luaBytes: Promise<Uint8Array<ArrayBuffer>> = Deno.readFile(
  LUA_WASM,
);

/** What the count hook raises in Lua when the meter is stopping. */
export const HOOK_ERROR = "stopped by the host";

/** How many instructions of Lua's VM between two calls of the hook. */
const HOOK_EVERY = 1000;

/**
 * A fresh Lua state on an instance of its own: as it comes, or given a
 * meter, on the metered bytes, attached to that meter.
 */
export async function luaEngine(meter?: FuelMeter): Promise<LuaEngine> {
  const factory = () => new LuaFactory(fileURLToPath(LUA_WASM)).createEngine();
  if (meter === undefined) return await factory();
  const instantiate = WebAssembly.instantiate;
  const withMeter = async (_bytes: unknown, imports: WebAssembly.Imports) => {
    const made = await instantiate(meter.bytes, {
      ...imports,
      ...meter.imports,
    });
    meter.attach(made.instance);
    return made;
  };
  WebAssembly.instantiate = withMeter as typeof WebAssembly.instantiate;
  try {
    return await factory();
  } finally {
    WebAssembly.instantiate = instantiate;
  }
}

/** A fresh Lua state as it comes. */
export function plainLua(): Promise<LuaEngine> {
  return luaEngine();
}

/**
 * A fresh Lua state in a metered instance. Given a meter, the instance is
 * attached to it (what to do when hard stops have left a state unsound);
 * `soft` installs a count hook that raises a Lua error while the meter is
 * stopping, so that Lua unwinds itself on a soft stop.
 */
export async function meteredLua(
  options: {
    meter?: FuelMeter;
    meterOptions?: FuelMeterOptions;
    soft?: boolean;
  } = {},
): Promise<{ lua: LuaEngine; meter: FuelMeter }> {
  const meter = options.meter ??
    new FuelMeter(await luaBytes, options.meterOptions);
  const lua = await luaEngine(meter);
  if (options.soft) {
    const api = lua.global.lua;
    const hook = api.module.addFunction((state: number) => {
      if (!meter.stopping) return;
      api.lua_pushstring(state, HOOK_ERROR);
      api.lua_error(state);
    }, "vii");
    api.lua_sethook(lua.global.address, hook, LuaEventMasks.Count, HOOK_EVERY);
  }
  return { lua, meter };
}

/**
 * A Lua program of mixed work (recursion, tables, strings, sorting,
 * pattern matching, arithmetic), returning one number from all of it.
 *
 * @param scale How much of each: 1 is a few milliseconds.
 */
export function mixedLua(scale: number): string {
  return `
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
local t = {}
for i = 1, ${4000 * scale} do t[i] = tostring(i * 7 % 1000) end
table.sort(t)
local s = 0
for i = 1, #t do s = s + #t[i] end
local parts = {}
for i = 1, ${
    1000 * scale
  } do parts[#parts + 1] = string.format("%d:%s", i, string.rep("x", i % 10)) end
local count = 0
for _ in string.gmatch(table.concat(parts, ","), "[^,]+") do count = count + 1 end
local acc = 0
for i = 1, ${60000 * scale} do acc = (acc + i * 3) % 1000003 end
return fib(${Math.min(18 + scale, 25)}) + s + count + acc`;
}
