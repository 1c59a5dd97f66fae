import { invokeIsolated, isolatedChildrenExited } from "../../mod.ts";
for (const m of ["/tmp/s1/bad.ts", "/tmp/s1/syn.ts", "/tmp/s1/dep.ts", "/tmp/s1/x.json", "/tmp/s1/num.ts", "/tmp/s1/missing.ts"]) {
  try {
    const r = await invokeIsolated("guest/early_exit_guest.wasm", "exit_early", [], { imports: m, permissions: { read: ["/tmp/s1"] } });
    console.log(m, r.outcome, (r as any).error?.message);
  } catch (e) { console.log(m, "THROW", (e as Error).name, (e as Error).message); }
}
await isolatedChildrenExited();
