/**
 * A guest that calls itself back through a host import until the thread's
 * stack runs out: in a fresh process the runner's functions are cold, and
 * the stack overflowed inside a nested call's own bookkeeping, which left
 * its frame on the guest's call stack with its watch armed. Every later
 * call of that guest (and of another guest the storm went through) ended
 * `aborted` or `timeout` at once, stopped by the StopSignal or deadline of
 * a call long over. Now each call ends the calls nested in it whose end was
 * cut short before it settles, and so does each host import for the calls
 * it made (`src/call/cut_short_ends.ts`): later calls return, in both modes,
 * through one guest, two guests and a `FuelMeter`'s runs, and for a guest
 * called from every level of another's recursion, plain or async (whose
 * watch had been armed and never handed back: its StopSignal stopped every
 * later call that had a watch), and the fuel each call used is counted
 * once. A call that no call encloses, made by a host at the brink of its own
 * stack, never broke so in a probe (65 fresh processes, three modes); it is
 * here too, so that a change that breaks it shows.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { jsonFromChild } from "./support/json_child.ts";

const CHILD = new URL("./support/cut_short_child.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url).pathname;

/** How many 8-byte arguments each import adds: where the stack runs out. */
const SHIFTS = [0, 21];

interface Verdict {
  problems: string[];
  storm: string;
}

async function storm(
  mode: "deadline-only" | "fuel",
  shape: "same" | "cross" | "meter" | "deep" | "deep-async" | "outermost",
  ended = "error: HostImportError",
): Promise<void> {
  for (const shift of SHIFTS) {
    const verdict = await jsonFromChild<Verdict>(
      CHILD,
      [`--allow-read=${ROOT}`],
      [mode, shape, String(shift)],
    );
    assert.deepEqual(
      verdict,
      { problems: [], storm: ended },
      `${mode}, ${shape}, shift ${shift}`,
    );
  }
}

for (const mode of ["deadline-only", "fuel"] as const) {
  Deno.test(`${mode}: a guest that calls itself back until the stack overflows leaves no call of its own in progress`, async () => {
    await storm(mode, "same");
  });

  Deno.test(`${mode}: two guests that call each other back until the stack overflows leave no call of either in progress`, async () => {
    await storm(mode, "cross");
  });

  Deno.test(`${mode}: runs of a FuelMeter made as deep as the stack lets them leave the meter and the guest whole`, async () => {
    await storm(mode, "meter");
  });

  Deno.test(`${mode}: a guest called from every level of another's recursion, until the stack overflows, is left with no call in progress`, async () => {
    await storm(mode, "deep");
  });

  Deno.test(`${mode}: so is one called from every level of an async guest's recursion, which ends in a stack overflow of its own`, async () => {
    await storm(mode, "deep-async", "trap: GuestTrap");
  });

  Deno.test(`${mode}: a host at the brink of its own stack, calling a guest that overflows from each level on its way back, leaves no call in progress`, async () => {
    await storm(mode, "outermost", "reached");
  });
}
