/**
 * Runs the whole test suite as `deno task test` does: each test file (the
 * examples of the JSDoc, README and docs among them, in
 * `tests/examples_test.ts`) in a `deno test` process of its own, one more at
 * once than the machine has cores (at most 4, or `EARLY_EXIT_TEST_JOBS`). Each
 * process's report is printed whole when it ends, and the last line sums them
 * in `deno test`'s own form.
 *
 * Processes rather than `deno test --parallel`: that runs files side by side
 * in one process, where a test that counts the process's children, open files
 * or memory sees its neighbours'. Files that touch nothing process-wide run
 * one after the other, a few to a process and a runtime
 * (`tests/support/test_group.ts`): starting a test runtime costs more CPU
 * than most of them take.
 *
 * Everything is type-checked once, in one `deno test --no-run` over the same
 * files as one `deno test` would take, run beside the first units; the other
 * processes skip the check, each of which would otherwise check its own graph
 * again.
 *
 * With arguments (`deno task test tests/deadline_test.ts`), it runs one
 * `deno test` on just those. With every permission (`deno run -A
 * tests/suite.ts`), on Linux, it also prints each unit's CPU time.
 *
 * @module
 */

/** What each `deno test` may do; the tests start servers only on 127.0.0.1. */
const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-net=127.0.0.1",
  "--allow-import=127.0.0.1",
];

const ROOT = new URL("../", import.meta.url);
const MAX_JOBS = 4;

/** One `deno test` run: its arguments and its name in the report. */
interface Unit {
  readonly name: string;
  readonly args: readonly string[];
  /** For a group: its files' URLs, one per line, for {@linkcode GROUP_ENTRY}. */
  readonly group?: string;
}

interface Tally {
  passed: number;
  steps: number;
  failed: number;
  ignored: number;
}

async function listFiles(dir: string, keep: (name: string) => boolean) {
  const found: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    if (entry.isFile && keep(entry.name)) found.push(`${dir}${entry.name}`);
  }
  return found.sort();
}

/**
 * The test files that take longest, longest first, as the per-unit times of
 * `deno task test` show them on a 2-core machine. Only roughly: a file left
 * out runs after these, by size. By size alone, the spec suite, one of the
 * smallest of these files and the longest, started two thirds of the way
 * through the run. Those that load binaryen run before all of these, in one
 * process, in this order among themselves.
 */
const LONGEST = [
  "tests/spec_test.ts",
  "tests/examples_test.ts",
  "tests/instrument_engine_limits_test.ts",
  "tests/fuzz_test.ts",
  "tests/rewrite_memory_test.ts",
  "tests/wasi_flush_test.ts",
  "tests/url_size_test.ts",
  "tests/limits_tables_default_test.ts",
  "tests/isolation_exit_test.ts",
  "tests/malformed_mutations_test.ts",
  "tests/cli_test.ts",
  "tests/paid_allocations_test.ts",
  "tests/isolation_start_test.ts",
  "tests/cli_load_stop_test.ts",
  "tests/soak_test.ts",
  "tests/load_caller_bytes_test.ts",
  "tests/fuel_meter_deadline_only_test.ts",
  "tests/rewrite_scaling_test.ts",
  "tests/fuel_meter_hostile_test.ts",
  "tests/real_esbuild_test.ts",
];

/**
 * What marks a test file as one that reads or changes process-wide state
 * (the process's children as `ps` lists them, its stdin, memory, CPU time,
 * descriptors, the watchdog, the compile thread, a process's first load, a
 * global it replaces): it keeps a process of its own, as the isolation
 * tests do. A file that starts processes and waits for them may share (the
 * files of a group run one after the other, and none of them counts the
 * process's children), as may one that only calls `invokeIsolated`: its
 * child is its own. So may one that starts Workers (to set a stop from
 * another thread) and ends them: the files it shares with count no
 * threads, or this would mark them.
 */
const PROCESS_WIDE =
  /"ps"|--ppid|Deno\.stdin\b|prepareStops|memoryUsage|cpuUsage|resourceUsage|\/proc\/|setFlagsFromString|FinalizationRegistry|hardwareConcurrency|Deno\.chdir|defineProperty\(performance|watchdog|compile_thread|first load|first call in|(?<!: )(?:globalThis|WebAssembly)\.\w+ = /;

/**
 * Files read by hand, whose every match of {@linkcode PROCESS_WIDE} is in
 * what this process does not run: in comments (`"comments"`: a child's
 * watchdog, or the one a deadline starts as any load's does; the rest of
 * the file is still read), or in the scripts of the children the file
 * starts (`"children"`: their memory readings). They share a process; one
 * that comes to touch process-wide state must leave this list.
 */
const READ_BY_HAND = new Map<string, "comments" | "children">([
  ["tests/spawned_threads_test.ts", "comments"],
  ["tests/fail_closed_test.ts", "comments"],
  ["tests/fuel_meter_run_test.ts", "comments"],
  ["tests/instrument_primer_test.ts", "children"],
  ["tests/limits_instantiation_test.ts", "children"],
  ["tests/malformed_mutations_test.ts", "comments"],
  ["tests/nesting_test.ts", "comments"],
  ["tests/real_quickjs_test.ts", "comments"],
  ["tests/worker_stops_test.ts", "comments"],
]);

/** A file's text without its comment lines (`//`, or of a block comment). */
function withoutComments(text: string): string {
  return text.replace(/^\s*(?:\/\/|\/\*|\*).*$/gm, "");
}

/**
 * How many small files share a process: few enough that the groups still
 * spread over the cores at the end of the run.
 */
const GROUP_SIZE = 16;

/**
 * How many of the long files ({@linkcode LONGEST}) that touch nothing
 * process-wide share a process.
 */
const LONG_GROUP_SIZE = 3;

/**
 * What marks a file that loads binaryen (to assemble what wabt cannot: the
 * spec suite's assembler, the malformed inputs' corpus) or its `wasm-opt`
 * (to make fuzz modules), each of which takes a process 1 to 2 s of CPU
 * time the first time.
 */
const LOADS_BINARYEN =
  /watBinaryen|"binaryen"|Assembler\.create|buildCorpus|FuzzModuleMaker/;

/** The entry module that runs a group's files in one runtime. */
const GROUP_ENTRY = "tests/support/test_group.ts";

/** A unit that runs `files` one after the other in one runtime. */
function group(files: readonly string[]): Unit {
  return {
    name: files.join(", "),
    args: [GROUP_ENTRY],
    group: files.map((path) => new URL(path, ROOT).href).join("\n"),
  };
}

/**
 * Every test file, the longest first, so that the run does not end with one
 * long unit on one core while the others sit idle: first the files that
 * load binaryen ({@linkcode LOADS_BINARYEN}) and touch nothing
 * process-wide ({@linkcode PROCESS_WIDE}), long or not, all in one process
 * (which loads it once, and is the longest unit); then the files
 * {@linkcode LONGEST} names in its order (three to a process where they
 * touch nothing process-wide), then the rest by size, and last the other
 * files that touch nothing process-wide, a group of them to a process.
 */
async function units(): Promise<Unit[]> {
  const tests = await listFiles("tests/", (name) => name.endsWith("_test.ts"));
  const sized = await Promise.all(
    tests.map(async (path) => ({
      path,
      size: (await Deno.stat(new URL(path, ROOT))).size,
    })),
  );
  const rank = (path: string) => {
    const at = LONGEST.indexOf(path);
    return at < 0 ? LONGEST.length : at;
  };
  sized.sort((a, b) =>
    rank(a.path) - rank(b.path) || b.size - a.size ||
    a.path.localeCompare(b.path)
  );
  // Each entry: a file of its own, or long files that share a process.
  const ordered: string[][] = [];
  let pair: string[] | undefined;
  const shared: string[] = [];
  const heavy: string[] = [];
  for (const { path } of sized) {
    const text = await Deno.readTextFile(new URL(path, ROOT));
    const read = READ_BY_HAND.get(path);
    const touches = read === "children"
      ? false
      : PROCESS_WIDE.test(read === "comments" ? withoutComments(text) : text);
    if (path.startsWith("tests/isolation_") || touches) ordered.push([path]);
    else if (LOADS_BINARYEN.test(text)) heavy.push(path);
    else if (rank(path) < LONGEST.length) {
      // Long files that touch nothing process-wide share a process, in the
      // place of the first: one start of a test runtime less.
      if (pair !== undefined && pair.length < LONG_GROUP_SIZE) pair.push(path);
      else ordered.push(pair = [path]);
    } else shared.push(path);
  }
  const alone = ordered.map((files) =>
    files.length === 1 ? { name: files[0]!, args: [files[0]!] } : group(files)
  );
  const groups: Unit[] = [];
  for (let at = 0; at < shared.length; at += GROUP_SIZE) {
    groups.push(group(shared.slice(at, at + GROUP_SIZE)));
  }
  // The files that load binaryen first, in one process that loads it once:
  // the longest unit. The groups are small units: they run after the long
  // files, beside the last of them.
  return [...(heavy.length > 0 ? [group(heavy)] : []), ...alone, ...groups];
}

/**
 * One process more than the cores: while a unit waits (for its children, a
 * timer, a deadline), the extra one takes its core, which sat idle with one
 * process per core.
 */
function jobs(): number {
  const asked = Deno.env.get("EARLY_EXIT_TEST_JOBS");
  if (asked !== undefined) {
    const count = Number(asked);
    if (!Number.isInteger(count) || count < 1) {
      console.error(
        `error: EARLY_EXIT_TEST_JOBS must be a whole number of at least 1, not ${
          JSON.stringify(asked)
        }; unset it to run one process more than the cores`,
      );
      Deno.exit(2);
    }
    return count;
  }
  return Math.min(MAX_JOBS, (navigator.hardwareConcurrency || 1) + 1);
}

// deno test ends with "ok | 3 passed (2 steps) | 0 failed | 1 ignored (5s)".
const SUMMARY =
  /^(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \| (\d+) ignored)?/m;

// deno test colours its report even into a pipe.
// deno-lint-ignore no-control-regex
const COLOUR = /\x1b\[[0-9;]*m/g;

function tallyOf(output: string): Tally | undefined {
  const found = output.replace(COLOUR, "").match(SUMMARY);
  if (!found) return undefined;
  return {
    passed: Number(found[1]),
    steps: Number(found[2] ?? 0),
    failed: Number(found[3]),
    ignored: Number(found[4] ?? 0),
  };
}

/** What the units cover together, as one `deno test` would be given it. */
const EVERYTHING = ["--doc", "mod.ts", "src/", "tests/", "README.md", "docs/"];

/**
 * The type check, as a unit of its own: one `deno test --no-run` over
 * everything, which the other units skip.
 */
const TYPE_CHECK: Unit = {
  name: "type check",
  args: ["--no-run", ...EVERYTHING],
};

/**
 * The CPU seconds of the children this process has waited for, as Linux
 * counts them (`cutime` and `cstime` in `/proc/self/stat`, in ticks of
 * 1/100 s), each child's with its own children's; `undefined` elsewhere.
 */
function childrenCpu(): number | undefined {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    // The fields after the command name, which ends at the last ")": the
    // third field first, so cutime (the 16th) is the 13th of these.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}

/** The children's CPU seconds when last read, to take differences from. */
let cpuSeen = childrenCpu();

/**
 * The CPU seconds a unit's process took (with the processes it started),
 * read as soon as it has been waited for: what the children's count grew
 * by since it was last read. Two units that end at the same moment may
 * share one figure; the sum is exact.
 */
function cpuOfEnded(): number | undefined {
  const now = childrenCpu();
  const took = now === undefined || cpuSeen === undefined
    ? undefined
    : now - cpuSeen;
  cpuSeen = now;
  return took;
}

async function run(unit: Unit) {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: unit === TYPE_CHECK
      ? ["test", ...PERMISSIONS, ...unit.args]
      : ["test", "--no-check", ...PERMISSIONS, ...unit.args],
    cwd: ROOT,
    env: unit.group === undefined ? {} : { EARLY_EXIT_TEST_GROUP: unit.group },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const cpu = child.status.then(cpuOfEnded);
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  const seconds = (performance.now() - started) / 1000;
  // What Deno says before the tests run goes to stderr.
  return { status, output: stderr + stdout, seconds, cpu: await cpu };
}

function duration(seconds: number): string {
  const whole = Math.round(seconds);
  return whole < 60 ? `${whole}s` : `${Math.floor(whole / 60)}m${whole % 60}s`;
}

/** A unit's time, and its CPU time where the system tells it. */
function timing(seconds: number, cpu: number | undefined): string {
  return cpu === undefined
    ? duration(seconds)
    : `${duration(seconds)}, ${cpu.toFixed(1)}s CPU`;
}

async function runAll(): Promise<number> {
  const started = performance.now();
  const queue = await units();
  const total: Tally = { passed: 0, steps: 0, failed: 0, ignored: 0 };
  const failedUnits: string[] = [];
  let cpuTotal: number | undefined = 0;
  const report = (
    unit: Unit,
    output: string,
    seconds: number,
    cpu: number | undefined,
  ) => {
    cpuTotal = cpu === undefined || cpuTotal === undefined
      ? undefined
      : cpuTotal + cpu;
    console.log(`\n== ${unit.name} (${timing(seconds, cpu)})`);
    console.log(output.trimEnd());
  };
  // The type check takes one core from the start, single-threaded as it
  // is, while the others run the test files; a failed check ends the run
  // after the units already started.
  const check = async () => {
    const { status, output, seconds, cpu } = await run(TYPE_CHECK);
    report(TYPE_CHECK, output, seconds, cpu);
    if (!status.success) {
      total.failed += 1;
      failedUnits.push(TYPE_CHECK.name);
      queue.length = 0;
    }
  };
  const worker = async (first?: () => Promise<void>) => {
    if (first) await first();
    for (let unit = queue.shift(); unit; unit = queue.shift()) {
      const { status, output, seconds, cpu } = await run(unit);
      const tally = tallyOf(output);
      report(unit, output, seconds, cpu);
      if (tally) {
        total.passed += tally.passed;
        total.steps += tally.steps;
        total.failed += tally.failed;
        total.ignored += tally.ignored;
      }
      if (!status.success || !tally || tally.failed > 0) {
        // A process that died before its summary counts as one failure.
        if (!tally) total.failed += 1;
        failedUnits.push(unit.name);
      }
    }
  };
  await Promise.all(
    Array.from(
      { length: jobs() },
      (_, i) => worker(i === 0 ? check : undefined),
    ),
  );
  const ok = failedUnits.length === 0;
  if (!ok) console.log(`\nfailed: ${failedUnits.join(", ")}`);
  const steps = total.steps ? ` (${total.steps} steps)` : "";
  const ignored = total.ignored ? ` | ${total.ignored} ignored` : "";
  // The units' CPU time beside the run's: a run takes at least that
  // divided by the cores, and at least its longest unit.
  const took = timing((performance.now() - started) / 1000, cpuTotal);
  const verdict = ok ? "ok" : "FAILED";
  console.log(
    `\n${verdict} | ${total.passed} passed${steps} | ${total.failed} failed${ignored} (${took})`,
  );
  return ok ? 0 : 1;
}

async function runGiven(args: string[]): Promise<number> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["test", ...PERMISSIONS, ...args],
  }).spawn().status;
  return code;
}

if (import.meta.main) {
  Deno.exit(
    Deno.args.length > 0 ? await runGiven(Deno.args) : await runAll(),
  );
}
