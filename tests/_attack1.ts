import { loadGuest } from "../mod.ts";
import { ESBUILD_WASM } from "./support/esbuild.ts";
import { quickjsBytes } from "./support/quickjs.ts";

const sqlUrl = new URL("./sql-wasm.wasm", import.meta.resolve("sql.js"));
const guests: Record<string, Uint8Array> = {
  esbuild: await Deno.readFile(ESBUILD_WASM),
  quickjs: await quickjsBytes,
  sqlite: await Deno.readFile(sqlUrl),
  compute: await Deno.readFile("guest/compute.wasm"),
  interp: await Deno.readFile("guest/interp/interp.wasm"),
  early: await Deno.readFile("guest/early_exit_guest.wasm"),
};
async function importsOf(bytes: Uint8Array) {
  const imports: Record<string, Record<string, unknown>> = {};
  for (const d of WebAssembly.Module.imports(await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>))) {
    const m = (imports[d.module] ??= {});
    if (d.kind === "function") m[d.name] = () => 0;
    else if (d.kind === "memory") m[d.name] = new WebAssembly.Memory({ initial: 256, maximum: 32768 });
    else if (d.kind === "table") m[d.name] = new WebAssembly.Table({ initial: 10000, element: "anyfunc" });
    else if (d.kind === "global") m[d.name] = new WebAssembly.Global({ value: "i32", mutable: false }, 0);
  }
  return imports;
}
const imps: Record<string, unknown> = {};
for (const [n, b] of Object.entries(guests)) imps[n] = await importsOf(b);
const alone: Record<string, Uint8Array> = {};
for (const [n, b] of Object.entries(guests)) {
  try {
    const g = await loadGuest(b, { fuel: 1e12, interruptible: true, imports: imps[n] as never });
    alone[n] = g.meter!.bytes;
  } catch (e) { console.log("alone", n, String(e).slice(0, 200)); }
}
const names = Object.keys(alone);
const list = [...names, ...names].slice(0, 12);
const signal = new AbortController().signal;
const results = await Promise.allSettled(list.map((n) => loadGuest(guests[n], { fuel: 1e12, signal, imports: imps[n] as never })));
results.forEach((r, i) => {
  const n = list[i];
  if (r.status === "rejected") return console.log("FAIL", n, String(r.reason).slice(0, 200));
  const a = alone[n], b = r.value.meter!.bytes;
  const same = a.length === b.length && a.every((x, j) => x === b[j]);
  console.log(n, same ? "same" : "DIFFERENT", a.length, b.length);
});
