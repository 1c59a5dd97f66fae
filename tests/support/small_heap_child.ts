/**
 * Runs an attack in a child `deno` with a small V8 heap, so that the test's
 * own process survives whatever the attack does, and reads back the one JSON
 * line the child printed (none if it died first).
 */

import assert from "./assert.ts";
import { runDeno } from "./cli.ts";

/** A hang guard: the children's attacks take a few seconds at most. */
const GUARD_MS = 120_000;

/** How a child ended: its exit code, its JSON report if any, its stderr. */
export interface SmallHeapChild<Report> {
  code: number;
  report?: Report;
  stderr: string;
}

/** How a child's `run` call ended, as `invokeRunInChild` prints it. */
export interface RunReport {
  outcome: string;
  error?: string;
}

/** A JS expression, for a child's script, that evaluates to `bytes`. */
export function bytesExpression(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return `Uint8Array.from(atob("${btoa(text)}"), (c) => c.charCodeAt(0))`;
}

/**
 * Evaluates `script` (a module run from the repository root, printing at
 * most one JSON line) in a child with a `heapMiB` heap, ended as hung after
 * `guardMs` (at least {@linkcode GUARD_MS}).
 */
export async function runInSmallHeap<Report>(
  script: string,
  heapMiB: number,
  guardMs = GUARD_MS,
): Promise<SmallHeapChild<Report>> {
  const run = await runDeno([
    "eval",
    `--v8-flags=--max-old-space-size=${heapMiB}`,
    script,
  ], { signal: AbortSignal.timeout(Math.max(guardMs, GUARD_MS)) });
  const line = run.stdout.trim();
  return {
    code: run.code,
    report: line === "" ? undefined : JSON.parse(line),
    stderr: run.stderr,
  };
}

/**
 * Loads `bytes` in a child with a `heapMiB` heap, with `options` (a JS
 * expression), calls its `run` export, and returns how the child ended.
 */
export async function invokeRunInChild(
  bytes: Uint8Array,
  heapMiB: number,
  options: string,
): Promise<SmallHeapChild<RunReport>> {
  return await runInSmallHeap<RunReport>(
    `
    import { loadGuest } from "./mod.ts";
    const bytes = ${bytesExpression(bytes)};
    let report;
    try {
      const guest = await loadGuest(bytes, ${options});
      const result = guest.invoke("run", []);
      report = { outcome: result.outcome, error: result.error?.kind };
    } catch (error) {
      report = { outcome: "thrown", error: error?.kind ?? String(error) };
    }
    console.log(JSON.stringify(report));
  `,
    heapMiB,
  );
}

/** Asserts that the child's `run` ran out of fuel and the child exited 0. */
export function assertRanOutOfFuel(
  child: SmallHeapChild<RunReport>,
  message?: string,
): void {
  assert.equal(child.code, 0, child.stderr);
  assert.deepEqual(child.report, {
    outcome: "fuel_exhausted",
    error: "FuelExhausted",
  }, message);
}

/**
 * Asserts that the child's `run` ended `out_of_memory` (the host's heap
 * past its limit) and the child exited 0.
 */
export function assertOutOfMemory(child: SmallHeapChild<RunReport>): void {
  assert.equal(child.code, 0, child.stderr);
  assert.deepEqual(child.report, {
    outcome: "out_of_memory",
    error: "OutOfMemory",
  });
}
