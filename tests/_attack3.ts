import { loadGuest, RewriteCache } from "../mod.ts";
import { quickjsBytes } from "./support/quickjs.ts";
import { ESBUILD_WASM } from "./support/esbuild.ts";
const q = await quickjsBytes;
async function importsOf(bytes: Uint8Array) {
  const imports: Record<string, Record<string, unknown>> = {};
  for (const d of WebAssembly.Module.imports(await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>))) {
    const m = (imports[d.module] ??= {});
    if (d.kind === "function") m[d.name] = () => 0;
    else if (d.kind === "memory") m[d.name] = new WebAssembly.Memory({ initial: 256, maximum: 32768 });
    else if (d.kind === "table") m[d.name] = new WebAssembly.Table({ initial: 10000, element: "anyfunc" });
  }
  return imports;
}
const imports = await importsOf(q);
const reference = (await loadGuest(q.slice(), { fuel: 1e9, interruptible: true, imports })).meter!.bytes;
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
// A: cache, no signal, mutate during load
{
  const dir = await Deno.makeTempDir();
  const cache = new RewriteCache(dir);
  const input = q.slice();
  const loading = loadGuest(input, { fuel: 1e9, interruptible: true, imports, cache }).then((g) => g, (e) => e);
  let n = 0;
  await new Promise<void>((res) => { const t = () => { input.fill(0x01, q.length - 200000 - n, q.length - 200000 - n + 64); n++; if (n < 50) setTimeout(t, 0); else res(); }; setTimeout(t, 0); });
  const r = await loading;
  console.log("A first load", r instanceof Error ? String(r).slice(0, 200) : same(r.meter.bytes, reference));
  const again = await loadGuest(q.slice(), { fuel: 1e9, interruptible: true, imports, cache }).then((g) => g, (e) => e);
  console.log("A reload of the original", cache.hits, cache.misses, again instanceof Error ? String(again).slice(0, 300) : same(again.meter!.bytes, reference));
}
// B: signal, mutate the tail during the stepped copy
const e = await Deno.readFile(ESBUILD_WASM);
const eimports = await importsOf(e);
const eref = (await loadGuest(e.slice(), { fuel: 1e9, interruptible: true, imports: eimports })).meter!.bytes;
{
  const input = e.slice();
  const loading = loadGuest(input, { fuel: 1e9, signal: new AbortController().signal, imports: eimports }).then((g) => g, (e) => e);
  let n = 0;
  await new Promise<void>((res) => { const t = () => { input.fill(0x00, e.length - 4096 - n * 64, e.length - n * 64); n++; if (n < 30) setImmediate(t); else res(); }; setImmediate(t); });
  const r = await loading;
  console.log("B", r instanceof Error ? String(r).slice(0, 300) : same(r.meter.bytes, eref));
}
// C: signal, detach during the load
{
  const input = e.slice();
  const loading = loadGuest(input, { fuel: 1e9, signal: new AbortController().signal, imports: eimports }).then((g) => g, (e) => e);
  await new Promise((r) => setImmediate(r));
  input.buffer.transfer();
  const r = await loading;
  console.log("C", r instanceof Error ? `${r.name} ${String(r).slice(0, 300)}` : same(r.meter.bytes, eref));
}
// D: SharedArrayBuffer input with signal
{
  const sab = new Uint8Array(new SharedArrayBuffer(e.length)); sab.set(e);
  const r = await loadGuest(sab, { fuel: 1e9, signal: new AbortController().signal, imports: eimports }).then((g) => g, (e) => e);
  console.log("D", r instanceof Error ? `${r.name} ${String(r).slice(0, 300)}` : same(r.meter.bytes, eref));
  const r2 = await loadGuest(sab, { fuel: 1e9, interruptible: true, imports: eimports }).then((g) => g, (e) => e);
  console.log("D nosig", r2 instanceof Error ? `${r2.name} ${String(r2).slice(0, 300)}` : same(r2.meter.bytes, eref));
}
