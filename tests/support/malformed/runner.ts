/**
 * Runs the mutations of the malformed-input corpus in child processes under
 * a watchdog, so that a rewriter that loops forever fails the test instead
 * of hanging it; each child reports what it saw as one JSON line.
 *
 * Reproduce one mutation, writing its input to a file:
 * `deno run --allow-read --allow-write --allow-run --allow-env
 * tests/support/malformed/runner.ts --repro N [out.wasm]`
 *
 * @module
 */

import assert from "../assert.ts";
import { instrument } from "../../../src/wasm/instrument.ts";
import { buildCorpus, readCorpus } from "./corpus.ts";
import { mutation } from "./mutations.ts";
import { check, type Disagreement, type FailureKind } from "./verdict.ts";

/**
 * A child that prints nothing for this long is taken to hang. It reports
 * progress every {@link PROGRESS_EVERY} inputs, which take well under a
 * second on a quiet machine: the margin is for a loaded one. How fast the
 * rewriter is belongs in `deno task bench`, not here.
 */
const WATCHDOG_MS = 120_000;
/** Inputs between two progress lines of a child. */
const PROGRESS_EVERY = 100;
/** Examples of each failure kind a report keeps. */
export const EXAMPLES = 12;

/** An input the rewriter and V8 judge differently. */
export interface DisagreementNote {
  mutation: number;
  module: string;
  kind: Disagreement;
  /** What was done to the module, and the rewriter's reason. */
  detail: string;
}

/** What a child reports at the end. */
export interface ChildReport {
  from: number;
  to: number;
  accepted: number;
  rejected: number;
  /** The slowest input, for the record only. */
  maxMs: number;
  slowest: number;
  /** Per failure kind: how many, and the first few. */
  failures: Record<string, { count: number; examples: string[] }>;
  /** Every input on which the rewriter and V8 disagree. */
  disagreements: DisagreementNote[];
}

async function childMain(dir: string, from: number, to: number) {
  const corpus = await readCorpus(dir);
  const report: ChildReport = {
    from,
    to,
    accepted: 0,
    rejected: 0,
    maxMs: 0,
    slowest: -1,
    failures: {},
    disagreements: [],
  };
  const fail = (kind: FailureKind, text: string) => {
    const entry = report.failures[kind] ??= { count: 0, examples: [] };
    entry.count++;
    if (entry.examples.length < EXAMPLES) entry.examples.push(text);
  };
  const encoder = new TextEncoder();
  for (let index = from; index < to; index++) {
    if ((index - from) % PROGRESS_EVERY === 0) {
      Deno.stdout.writeSync(encoder.encode(`at ${index}\n`));
    }
    const { entry, bytes, steps } = mutation(corpus, index);
    const verdict = check(bytes);
    report[verdict.outcome]++;
    // The first calls include compiling the rewriter itself.
    if (verdict.ms > report.maxMs && index - from >= 20) {
      report.maxMs = verdict.ms;
      report.slowest = index;
    }
    const what = `mutation #${index} of ${entry.name} (${steps.join("; ")})`;
    if (verdict.failure) {
      fail(verdict.failure.kind, `${what}: ${verdict.failure.detail}`);
    }
    if (verdict.disagreement) {
      report.disagreements.push({
        mutation: index,
        module: entry.name,
        kind: verdict.disagreement.kind,
        detail: `${steps.join("; ")}: ${verdict.disagreement.detail}`,
      });
    }
  }
  Deno.stdout.writeSync(encoder.encode(`report ${JSON.stringify(report)}\n`));
}

/** Runs mutations [from, to) of the corpus in `dir` in a child, killing it if it goes quiet. */
export async function runChild(
  dir: string,
  from: number,
  to: number,
): Promise<ChildReport> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${dir}`,
      new URL(import.meta.url).pathname,
      "--child",
      dir,
      String(from),
      String(to),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let last = `${from} (not started)`;
  let report: ChildReport | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = () => {
    clearTimeout(timer);
    timer = setTimeout(() => child.kill("SIGKILL"), WATCHDOG_MS);
  };
  watchdog();
  const lines = child.stdout.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const chunk of lines) {
    watchdog();
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith("at ")) last = line.slice(3);
      if (line.startsWith("report ")) report = JSON.parse(line.slice(7));
    }
  }
  clearTimeout(timer);
  const status = await child.status;
  const errors = await stderr;
  if (status.signal === "SIGKILL") {
    assert.fail(
      `the rewriter hung: no progress for ${WATCHDOG_MS} ms in mutations ` +
        `${last}..${
          Math.min(to, Number(last) + PROGRESS_EVERY)
        } (run --repro on them)`,
    );
  }
  if (!report) {
    assert.fail(
      `the child for mutations ${from}..${to} died (${
        JSON.stringify(status)
      }) after ${last}:\n${errors}`,
    );
  }
  return report;
}

async function repro(index: number, out: string | undefined) {
  const corpus = await buildCorpus();
  const { entry, bytes, steps } = mutation(corpus, index);
  console.log(`mutation #${index} of ${entry.name}: ${steps.join("; ")}`);
  console.log(
    `input: ${bytes.length} bytes, V8 ${
      WebAssembly.validate(bytes as BufferSource) ? "accepts" : "rejects"
    } it`,
  );
  if (out) await Deno.writeFile(out, bytes);
  console.log(check(bytes));
  try {
    instrument(bytes);
  } catch (error) {
    console.log(error, (error as Error).cause);
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    await childMain(Deno.args[1], Number(Deno.args[2]), Number(Deno.args[3]));
  } else if (Deno.args[0] === "--repro") {
    await repro(Number(Deno.args[1]), Deno.args[2]);
  } else {
    console.error("usage: runner.ts --repro N [out.wasm]");
    Deno.exit(2);
  }
}
