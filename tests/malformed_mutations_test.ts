/**
 * Malformed input: thousands of deterministic mutations of the corpus (bits
 * flipped, bytes cut, inserted or deleted, LEB128 fields stretched into runs
 * of `0x80`, section sizes and vector counts changed, sections swapped) must
 * each make `instrument()` either return a module that
 * `WebAssembly.validate` accepts or throw a branded `InvalidModule`, without
 * the rewriter's own code failing underneath; and the rewriter must judge
 * each input as V8 does, but for the known cases listed here and a valid
 * input it turns away at one of its documented limits (a mutation that
 * gives a function thousands of locals, say: about one in 200,000).
 *
 * The mutations run in two child processes under a watchdog (see
 * `support/malformed/runner.ts`, which also reproduces one mutation).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { buildCorpus, writeCorpus } from "./support/malformed/corpus.ts";
import {
  type DisagreementNote,
  EXAMPLES,
  runChild,
} from "./support/malformed/runner.ts";
import type { Disagreement } from "./support/malformed/verdict.ts";

/** Mutations in the test run. */
const MUTATIONS = 24000;
/** Child processes running them (the machine has 2 cores). */
const WORKERS = 2;

/** An input on which the rewriter and V8 disagree today, and why. */
interface KnownDisagreement {
  mutation: number;
  module: string;
  kind: Disagreement;
  /** The issue that will remove the disagreement. */
  issue: string;
  why: string;
}

/**
 * Every disagreement with V8 that exists today. The test fails on any other,
 * and on a listed one that no longer disagrees: remove it from here then.
 */
const KNOWN_DISAGREEMENTS: readonly KnownDisagreement[] = [];

Deno.test("mutated modules give a valid module or InvalidModule, as V8 judges them", async () => {
  const corpus = await buildCorpus();
  const dir = await Deno.makeTempDir({ prefix: "early-exit-malformed-" });
  try {
    await writeCorpus(dir, corpus);
    const started = performance.now();
    const share = Math.ceil(MUTATIONS / WORKERS);
    const reports = await Promise.all(
      Array.from(
        { length: WORKERS },
        (_, w) =>
          runChild(dir, w * share, Math.min(MUTATIONS, (w + 1) * share)),
      ),
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const total = (key: "accepted" | "rejected") =>
      reports.reduce((n, r) => n + r[key], 0);
    const slowest = reports.reduce((a, b) => a.maxMs >= b.maxMs ? a : b);
    const failures = new Map<string, { count: number; examples: string[] }>();
    for (const report of reports) {
      for (
        const [kind, { count, examples }] of Object.entries(report.failures)
      ) {
        const total = failures.get(kind) ?? { count: 0, examples: [] };
        total.count += count;
        total.examples.push(...examples);
        failures.set(kind, total);
      }
    }
    const failed = [...failures.values()].reduce((n, f) => n + f.count, 0);
    const disagreements = reports.flatMap((r) => r.disagreements);
    console.log(
      `malformed: ${MUTATIONS} mutations of ${corpus.length} modules: ` +
        `${total("accepted")} gave a module, ${total("rejected")} ` +
        `InvalidModule; ${disagreements.length} judged otherwise by V8 ` +
        `(${KNOWN_DISAGREEMENTS.length} known); ${failed} broke the ` +
        `contract; slowest ${slowest.maxMs.toFixed(1)} ms ` +
        `(#${slowest.slowest}); ${seconds} s`,
    );
    if (failed > 0) {
      assert.fail(
        `${failed} mutations broke the contract:\n` +
          [...failures].map(([kind, { count, examples }]) =>
            `${kind}: ${count}, for example\n  ${
              examples.slice(0, EXAMPLES).join("\n  ")
            }`
          ).join("\n"),
      );
    }
    assertKnownDisagreements(disagreements);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Fails on a disagreement that is not listed, and on a listed one that did
 * not happen (fixed, or the corpus changed): the list cannot go stale.
 */
function assertKnownDisagreements(seen: DisagreementNote[]): void {
  const key = (d: { mutation: number; module: string; kind: string }) =>
    `mutation #${d.mutation} of ${d.module}: ${d.kind}`;
  const known = new Set(KNOWN_DISAGREEMENTS.map(key));
  const found = new Set(seen.map(key));
  const unknown = seen.filter((d) => !known.has(key(d)));
  const gone = KNOWN_DISAGREEMENTS.filter((d) => !found.has(key(d)));
  assert.deepEqual(
    unknown.map((d) => `${key(d)} (${d.detail})`),
    [],
    "the rewriter and V8 disagree on these inputs (reproduce one with " +
      "support/malformed/runner.ts --repro N)",
  );
  assert.deepEqual(
    gone.map((d) => `${key(d)} (${d.issue}: ${d.why})`),
    [],
    "these known disagreements are gone: remove them from " +
      "KNOWN_DISAGREEMENTS",
  );
}
