/**
 * The engine's compile of a function of many locals at its first call:
 * thread CPU of a fresh load's first call less its second, for a function
 * of N locals of one type (its `i32` parameter included) and M of one kind
 * of branch, loaded plain or rewritten (sync deadline, async deadline,
 * fuel). Prints one JSON line per point, the fastest to slowest of
 * `REPEATS` fresh loads (3 unless set); a point the rewrite refuses says so,
 * and ends its sweep of M. `limit` in place of the Ms measures the most
 * the rewrite accepts at each N. Nothing passes or fails. What
 * `docs/rewriter.md` (Refused functions) reports was measured with it.
 *
 * `deno run -A bench/first_compile.ts MODE KIND TYPE [N,... [M,...|limit]]`,
 * MODE one of plain, sync, async, fuel; KIND one of if, if_set, empty_if,
 * trap_if, return_if, if_else, if_result, br_if, br_if_set, br_if_trap,
 * br_if_return, br, br_table
 * (M targets in tables of 8), try_table, select, loop, call; TYPE one of i32, i64, f32, f64, v128, funcref.
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

/**
 * One operator of a kind, the `i`th, over the parameter (0 at the calls);
 * `n` is the function's locals, which the `*_set` kinds write in turn.
 */
function one(kind: string, i: number, n: number): string {
  const other = n > 1 ? 1 + i % (n - 1) : 0;
  switch (kind) {
    case "if":
      return "(if (local.get 0) (then (local.set 0 (i32.const 1))))";
    case "if_set": // a rejoining arm that writes another local each time
      return `(if (local.get 0) (then (local.set ${other} (local.get 0))))`;
    case "trap_if":
      return "(if (local.get 0) (then (unreachable)))";
    case "return_if": // Go's check after each call
      return "(if (local.get 0) (then (return)))";
    case "empty_if":
      return "(if (local.get 0) (then))";
    case "if_else":
      return "(if (local.get 0) (then (local.set 0 (i32.const 1))) (else (local.set 0 (i32.const 2))))";
    case "if_result": // a value carried out of both arms, through tees
      return "(local.set 0 (if (result i32) (local.get 0) (then (local.tee 0 (i32.const 1))) (else (local.tee 0 (i32.const 2)))))";
    case "br_if":
      return "(block (br_if 0 (local.get 0)))";
    case "br_if_set":
      return `(block (local.set ${other} (local.get 0)) (br_if 0 (local.get 0)))`;
    case "br_if_trap": // a trap after a branch over it
      return "(block (br_if 0 (i32.eqz (local.get 0))) (unreachable))";
    case "br_if_return":
      return "(block (br_if 0 (i32.eqz (local.get 0))) (return))";
    case "br":
      return "(block (br 0))";
    case "br_table": // 8 targets and the default, 8 blocks
      return `${"(block ".repeat(8)}(br_table 0 1 2 3 4 5 6 7 0 (local.get 0))${
        ")".repeat(8)
      }`;
    case "try_table":
      return "(block (try_table (catch_all 0) (local.set 0 (i32.const 1))))";
    case "select":
      return "(local.set 0 (select (local.get 0) (i32.const 1) (local.get 0)))";
    case "call":
      return "(call $check (local.get 0))";
    default:
      return "(loop (br_if 0 (local.get 0)))";
  }
}

/** M operators of one kind (`br_table`: M / 8 of them). */
function branches(kind: string, m: number, n: number): string {
  const parts: string[] = [];
  const count = kind === "br_table" ? Math.max(1, Math.round(m / 8)) : m;
  for (let i = 0; i < count; i++) parts.push(one(kind, i, n));
  return parts.join(" ");
}

function wat(type: string, n: number, kind: string, m: number, nonce: number) {
  return `(module
    (global (export "nonce") i32 (i32.const ${nonce}))
    (func $check (param i32) (if (local.get 0) (then (unreachable))))
    (func (export "wide") (param i32) (local ${`${type} `.repeat(n - 1)})
      ${branches(kind, m, n)}))`;
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

/** Whether the rewrite for `mode` accepts M operators of a kind. */
async function accepted(
  mode: string,
  type: string,
  n: number,
  kind: string,
  m: number,
): Promise<boolean> {
  const bytes = await assembleWat(wat(type, n, kind, m, nonce++));
  try {
    await loadGuest(bytes, MODES[mode]!);
    return true;
  } catch (error) {
    if (isInvalidModule(error)) return false;
    throw error;
  }
}

/** The most operators of a kind the rewrite accepts (bisected), or 0. */
async function atLimit(
  mode: string,
  type: string,
  n: number,
  kind: string,
): Promise<number> {
  let low = 0;
  let high = 1;
  while (await accepted(mode, type, n, kind, high)) {
    low = high;
    high *= 2;
    if (high > 1 << 22) return low;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (await accepted(mode, type, n, kind, mid)) low = mid;
    else high = mid;
  }
  return low;
}

const [mode = "sync", kind = "if", type = "v128", ns, ms] = Deno.args;
const nList = (ns ?? "1024,4096,8192,16384,24576,32768,40000,50000")
  .split(",").map(Number);
// `limit` measures the most the rewrite accepts at each N.
const atTheLimit = ms === "limit";
const mList = atTheLimit
  ? [0]
  : (ms ?? "1,2,5,10,20,50,100,200,500").split(",").map(Number);
const REPEATS = Number(Deno.env.get("REPEATS") ?? 3);
// One compile first, so that the process's own first compile is not measured.
await firstCompile(mode, "i32", 64, "if", 4);
for (const n of nList) {
  for (let m of mList) {
    if (atTheLimit) m = await atLimit(mode, type, n, kind);
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
      usPerOperator: Number((times[1]! * 1e3 / m).toFixed(3)),
      nsPerLocalBranch: Number(
        (times[1]! * 1e6 / (n * m)).toFixed(1),
      ),
    }));
  }
}
