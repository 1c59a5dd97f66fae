import { loadGuest } from "../mod.ts";
import { buildCorpus } from "./support/malformed/corpus.ts";
import { mutation } from "./support/malformed/mutations.ts";
import { quickjsBytes } from "./support/quickjs.ts";

const corpus = await buildCorpus();
const inputs: [string, Uint8Array][] = [];
for (let i = 0; i < 300; i++) { const m = mutation(corpus, i); inputs.push([m.entry.name + " " + m.steps.join(";"), m.bytes]); }
const q = await quickjsBytes;
// cut or corrupt inside the code section of a large guest
for (const at of [0.3, 0.5, 0.7, 0.9]) {
  const cut = Math.floor(q.length * at);
  inputs.push([`quickjs truncated at ${at}`, q.slice(0, cut)]);
  const bad = q.slice(); bad.fill(0xff, cut, cut + 16); inputs.push([`quickjs 0xff at ${at}`, bad]);
  const bad2 = q.slice(); bad2[cut] = 0x06; bad2[cut+1]=0x06; inputs.push([`quickjs 06 at ${at}`, bad2]);
}
async function verdict(bytes: Uint8Array, opts: object) {
  try { await loadGuest(bytes.slice(), { fuel: 1e9, ...opts }); return "ok"; }
  catch (e) { return `${(e as Error).name}: ${(e as Error).message}`; }
}
let diffs = 0;
for (const [name, bytes] of inputs) {
  const a = await verdict(bytes, { interruptible: true });
  const b = await verdict(bytes, { signal: new AbortController().signal });
  const c = await verdict(bytes, { signal: new AbortController().signal, limits: { memory: 65536 } });
  const d = await verdict(bytes, { interruptible: true, limits: { memory: 65536 } });
  if (a !== b || c !== d) { diffs++; console.log("DIFF", name, "\n  no signal:", a.slice(0, 300), "\n  signal:   ", b.slice(0, 300), "\n  lim no sig:", d.slice(0,300), "\n  lim sig:   ", c.slice(0,300)); }
}
console.log("inputs", inputs.length, "diffs", diffs);
