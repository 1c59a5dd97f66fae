/**
 * Spec conformance of the fuel meter: every module of the WebAssembly spec
 * test suite that V8 accepts is metered with a budget that never runs out,
 * and each assertion must come out the same as with the unmetered module.
 *
 * The suite is looked up at `../shared/wasm-testsuite` beside the repository
 * (override with `WASM_TESTSUITE`); without it the test is ignored.
 *
 * Run: `deno test --allow-read --allow-env tests/spec_test.ts`. With
 * `SPEC_REWRITER=identity` the modules go through unchanged, which checks the
 * harness itself: any difference then is the harness's fault.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { relative } from "node:path";
import {
  Assembler,
  type FileReport,
  formatSummary,
  identityRewriter,
  type Rewriter,
  SpecRunner,
} from "./support/spectest/mod.ts";
import { envVar, shown, SUITE_DIR, suiteFiles } from "./support/testsuite.ts";
import { DEFAULT_ARRAY_BYTES } from "../src/module/limits.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { withAddedImports } from "./support/stop_flag.ts";

const { files } = suiteFiles();

/**
 * The meters under test: resumable checks (which call the host when the
 * fuel runs out), trapping ones (which start with all the fuel they will
 * get), and ones that also check a stop flag, with fuel or without. `SPEC_REWRITER=identity` checks the harness alone.
 */
function chooseRewriters(): { rewrite: Rewriter; name: string }[] {
  if (envVar("SPEC_REWRITER") === "identity") {
    return [{
      rewrite: identityRewriter,
      name: "identity (SPEC_REWRITER=identity)",
    }];
  }
  return [
    { rewrite: (bytes) => instrument(bytes), name: "instrument()" },
    {
      rewrite: (bytes) =>
        instrument(bytes, { resumable: false, initialFuel: (1n << 63n) - 1n }),
      name: "instrument({ resumable: false })",
    },
    // The flag is never set: its checks must change nothing. Arrays are
    // held to the size a stoppable load holds them to, which the suite's
    // stay under.
    ...[true, false].map((fuel) => ({
      rewrite: (bytes: Uint8Array) =>
        withAddedImports(
          instrument(bytes, {
            stopFlag: true,
            fuel,
            arrayBytes: DEFAULT_ARRAY_BYTES,
          }),
        ),
      name: `instrument({ stopFlag: true${
        fuel ? "" : ", fuel: false"
      }, arrayBytes })`,
    })),
  ];
}

/** Everything in a report that fails the file, one line each. */
function problems(report: FileReport): string[] {
  return [
    ...report.rewriterErrors.map((e) =>
      `line ${e.line} ${e.command}: instrument() threw: ${e.detail}`
    ),
    ...report.failures.map((f) => `line ${f.line} ${f.command}: ${f.detail}`),
  ];
}

const rewriters = chooseRewriters();

Deno.test({
  name: `spec suite, ${
    rewriters.map(({ name }) => name).join(", ")
  }: metered modules give the same results as the originals`,
  ignore: files.length === 0,
  async fn(t) {
    const started = performance.now();
    console.log(
      `spec suite at ${shown(SUITE_DIR)}, ${files.length} files, rewriters: ${
        rewriters.map(({ name }) => name).join(", ")
      }`,
    );
    // Each file is parsed and assembled once, and each command done once on
    // the plain modules, beside a metered run per rewriter.
    const runner = new SpecRunner({
      rewriters: rewriters.map(({ rewrite }) => rewrite),
      assembler: await Assembler.create(),
    });
    const reports: FileReport[][] = rewriters.map(() => []);
    for (const file of files) {
      const label = relative(SUITE_DIR, file);
      await t.step(label, async () => {
        const source = new TextDecoder().decode(await Deno.readFile(file));
        const found = (await runner.runFile(label, source)).flatMap(
          (report, i) => {
            reports[i]!.push(report);
            return problems(report).map((line) =>
              `${rewriters[i]!.name}: ${line}`
            );
          },
        );
        if (found.length > 0) {
          assert.fail(
            `${label}: ${found.length} problem(s)\n${found.join("\n")}`,
          );
        }
      });
    }
    const elapsed = performance.now() - started;
    rewriters.forEach(({ name }, i) => {
      console.log(`rewriter: ${name}`);
      console.log(formatSummary(reports[i]!, elapsed));
    });
  },
});
