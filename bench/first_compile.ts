/**
 * The engine's compile of a function of many locals at its first call:
 * thread CPU of a fresh load's first call less its second, for a function
 * of N locals of one type (its `i32` parameter included) and M of one kind
 * of branch, loaded plain or rewritten (sync deadline, async deadline,
 * fuel). Prints one JSON line per point, the fastest to slowest of
 * `REPEATS` fresh loads (3 unless set); a point the rewrite refuses says so,
 * and ends its sweep of M. Nothing passes or fails. What
 * `docs/rewriter.md` (Refused functions) reports was measured with it.
 *
 * `deno run -A bench/first_compile.ts MODE KIND TYPE [N,... [M,...]]`,
 * MODE one of plain, sync, async, fuel; KIND one of if, empty_if, trap_if,
 * br_if, br, loop, call; TYPE one of i32, i64, f32, f64, v128, funcref.
 *
 * @module
 */
import {
  type Guest,
  type GuestOptions,
  isInvalidModule,
  loadGuest,
} from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { settledThreadCpuMs } from "../tests/support/thread_cpu.ts";

const MODES: Record<string, GuestOptions> = {
  plain: {},
  sync: { fuel: false, interruptible: true },
  async: { fuel: false, async: true },
  fuel: { fuel: 1e15 },
};

/** M branches of one kind over the parameter (0 at the calls). */
function branches(kind: string, m: number): string {
  const one = kind === "if"
    ? "(if (local.get 0) (then (local.set 0 (i32.const 1))))"
    : kind === "trap_if"
    ? "(if (local.get 0) (then (unreachable)))"
    : kind === "call"
    ? "(call $check (local.get 0))"
    : kind === "empty_if"
    ? "(if (local.get 0) (then))"
    : kind === "br_if"
    ? "(block (br_if 0 (local.get 0)))"
    : kind === "br"
    ? "(block (br 0))"
    : "(loop (br_if 0 (local.get 0)))";
  return `${one} `.repeat(m);
}

function wat(type: string, n: number, kind: string, m: number, nonce: number) {
  return `(module
    (global (export "nonce") i32 (i32.const ${nonce}))
    (func $check (param i32) (if (local.get 0) (then (unreachable))))
    (func (export "wide") (param i32) (local ${`${type} `.repeat(n - 1)})
      ${branches(kind, m)}))`;
}

async function call(guest: Guest, async: boolean): Promise<number> {
  const before = settledThreadCpuMs();
  if (async) await guest.invokeAsync("wide", [0]);
  else guest.invoke("wide", [0]);
  return settledThreadCpuMs() - before;
}

let nonce = 0;
/** The first call's CPU less the second's, in ms, or "refused". */
async function firstCompile(
  mode: string,
  type: string,
  n: number,
  kind: string,
  m: number,
): Promise<number | "refused"> {
  const bytes = await assembleWat(wat(type, n, kind, m, nonce++));
  let guest: Guest;
  try {
    guest = await loadGuest(bytes, MODES[mode]!);
  } catch (error) {
    if (isInvalidModule(error)) return "refused";
    throw error;
  }
  const async = mode === "async";
  const first = await call(guest, async);
  const second = await call(guest, async);
  return first - second;
}

const [mode = "sync", kind = "if", type = "v128", ns, ms] = Deno.args;
const nList = (ns ?? "1024,4096,8192,16384,24576,32768,40000,50000")
  .split(",").map(Number);
const mList = (ms ?? "1,2,5,10,20,50,100,200,500").split(",").map(Number);
const REPEATS = Number(Deno.env.get("REPEATS") ?? 3);
// One compile first, so that the process's own first compile is not measured.
await firstCompile(mode, "i32", 64, "if", 4);
for (const n of nList) {
  for (const m of mList) {
    const times: number[] = [];
    let refused = false;
    for (let i = 0; i < REPEATS && !refused; i++) {
      const t = await firstCompile(mode, type, n, kind, m);
      if (t === "refused") refused = true;
      else times.push(t);
    }
    if (refused) {
      console.log(JSON.stringify({ mode, kind, type, n, m, refused: true }));
      break;
    }
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({
      mode,
      kind,
      type,
      n,
      m,
      ms: times.map((t) => Number(t.toFixed(2))),
      nsPerLocalBranch: Number(
        (times[1]! * 1e6 / (n * m)).toFixed(1),
      ),
    }));
  }
}
