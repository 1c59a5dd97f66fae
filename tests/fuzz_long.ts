/**
 * The long differential fuzz run (`deno task fuzz`): the harness of
 * `fuzz_test.ts` over many more seeds. Prints progress, each failing seed
 * with what differed, and each seed the rewriter refused at one of its
 * documented limits (a valid module turned away, not a failure). It is a
 * test, not a benchmark, so it lives here beside the test support it runs
 * on.
 *
 * Usage:
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env tests/fuzz_long.ts [COUNT] [--from N] [--seed N]... [--rewrite NAME] [--save DIR]
 * ```
 *
 * - `COUNT` seeds (default 2000) starting at `--from` (default 1000, past the
 *   seeds the test suite runs);
 * - `--seed N` (repeatable) runs just those seeds;
 * - `--rewrite NAME`: the rewrite to compare with the originals, one of
 *   `support/fuzz/rewrites.ts` (`fuel`, the default; `stop-flag`; `let-go`);
 * - `--save DIR` writes each failing module and its metered form to `DIR`.
 *
 * Exits with status 1 if any seed failed, or if a run of 100 seeds or more
 * compared too few exports (see `coverageProblem`); with status 2, and a
 * line that says why, on arguments it does not take.
 *
 * @module
 */

import {
  coverageProblem,
  FuzzModuleMaker,
  fuzzSeed,
  type SeedOutcome,
} from "./support/fuzz/mod.ts";
import { FUZZ_REWRITES } from "./support/fuzz/rewrites.ts";

interface Options {
  seeds: number[];
  save?: string;
  /** A name of {@linkcode FUZZ_REWRITES}. */
  rewrite: string;
}

function parseArgs(args: readonly string[]): Options {
  let count = 2000;
  let from = 1000;
  const only: number[] = [];
  let save: string | undefined;
  let rewrite = "fuel";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === "--from") from = Number(value());
    else if (arg === "--seed") only.push(Number(value()));
    else if (arg === "--save") save = value();
    else if (arg === "--rewrite") rewrite = value();
    else if (/^\d+$/.test(arg)) count = Number(arg);
    else {
      throw new Error(
        `unknown argument ${arg}: expected COUNT, --from N, --seed N, --rewrite NAME or --save DIR`,
      );
    }
  }
  if (!Object.hasOwn(FUZZ_REWRITES, rewrite)) {
    throw new Error(
      `unknown rewrite ${rewrite}: expected one of ${
        Object.keys(FUZZ_REWRITES).join(", ")
      }`,
    );
  }
  const seeds = only.length > 0
    ? only
    : Array.from({ length: count }, (_, i) => from + i);
  if (seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) {
    throw new Error("seeds must be non-negative integers");
  }
  return { seeds, save, rewrite };
}

async function saveFailure(
  dir: string,
  maker: FuzzModuleMaker,
  seed: number,
  rewrite: string,
) {
  await Deno.mkdir(dir, { recursive: true });
  const { bytes } = await maker.make(seed);
  await Deno.writeFile(`${dir}/seed-${seed}.wasm`, bytes);
  try {
    await Deno.writeFile(
      `${dir}/seed-${seed}.metered.wasm`,
      FUZZ_REWRITES[rewrite]!().transform(bytes).bytes,
    );
  } catch {
    // the rewriter rejected it: the original alone reproduces that
  }
}

async function main() {
  let options: Options;
  try {
    options = parseArgs(Deno.args);
  } catch (error) {
    console.error(`fuzz_long: ${(error as Error).message}`);
    Deno.exit(2);
  }
  const { seeds, save, rewrite } = options;
  const { transform, answers } = FUZZ_REWRITES[rewrite]!();
  const maker = await FuzzModuleMaker.create();
  const started = performance.now();
  const failures: SeedOutcome[] = [];
  const outcomes: Pick<SeedOutcome, "compared" | "functions" | "refused">[] =
    [];
  let compared = 0;
  let functions = 0;
  let refills = 0;
  let cut = 0;
  let refused = 0;
  try {
    for (const [n, seed] of seeds.entries()) {
      const outcome = await fuzzSeed(maker, transform, seed);
      outcomes.push(outcome);
      compared += outcome.compared;
      functions += outcome.functions;
      refills += outcome.refills;
      if (outcome.cut) cut++;
      if (outcome.refused !== undefined) {
        refused++;
        console.log(
          `refused seed ${seed} (${outcome.profile}): ${outcome.refused}`,
        );
      }
      if (outcome.failure !== undefined) {
        failures.push(outcome);
        console.log(
          `FAIL seed ${seed} (${outcome.profile}): ${outcome.failure}`,
        );
        if (save) await saveFailure(save, maker, seed, rewrite);
      }
      if ((n + 1) % 100 === 0 || n + 1 === seeds.length) {
        const seconds = (performance.now() - started) / 1000;
        console.log(
          `${n + 1}/${seeds.length} seeds, ${compared}/${functions} exports ` +
            `compared, ${refills} refills, ${cut} cut short, ` +
            `${refused} refused at a limit, ${failures.length} failed, ` +
            `${seconds.toFixed(1)} s`,
        );
      }
    }
  } finally {
    await maker.close();
  }
  if (answers !== undefined) {
    console.log(`checks that answered the flag: ${answers()}`);
  }
  const tooFew = coverageProblem(outcomes);
  if (tooFew !== undefined) console.log(`FAIL: ${tooFew}`);
  if (failures.length > 0) {
    console.log(
      `failing seeds: ${failures.map((f) => f.seed).join(" ")}` +
        (save ? ` (modules in ${save})` : ""),
    );
  }
  if (failures.length > 0 || tooFew !== undefined) Deno.exit(1);
}

if (import.meta.main) await main();
