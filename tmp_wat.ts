import wabtInit from "wabt";
import { WABT_ALL_FEATURES } from "./guest/build.ts";
const wabt = await wabtInit();
const bytes = await Deno.readFile(Deno.args[0]);
const mod = wabt.readWasm(bytes, { ...WABT_ALL_FEATURES, readDebugNames: true } as never);
console.log(mod.toText({}));
