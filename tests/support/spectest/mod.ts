/**
 * Runs WebAssembly spec-test scripts in lockstep, once with the modules as
 * written and once for each rewriter under test (the fuel meter in its
 * modes) with every module passed through it, and checks that each metered
 * run observes the same results as the plain one.
 *
 * Pieces, in order: the `spectest` host module (`host.ts`), the assembler
 * (`assembler.ts`: wabt, with binaryen as a fallback for text wabt cannot
 * read), export signatures read from the binary (`signatures.ts`), a call
 * harness for signatures JS cannot carry exactly (`call.ts`: v128, and
 * floats whose NaN bits matter), outcome comparison (`compare.ts`), the
 * runs (`run.ts`), and the lockstep runner (`runner.ts`) with its report
 * (`report.ts`).
 *
 * @module
 */

export { Assembler } from "./assembler.ts";
export { type FileReport, formatSummary } from "./report.ts";
export { identityRewriter, type Rewriter } from "./rewriter.ts";
export { SpecRunner } from "./runner.ts";
