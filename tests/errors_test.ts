import assert from "./support/assert.ts";
import * as earlyExit from "../mod.ts";
import { ERROR_CLASSES, withoutStack } from "../src/errors.ts";
import { OUTCOMES, STOP_OUTCOMES } from "../src/call/outcome.ts";
import { expectOutcome } from "./support/outcome.ts";

const SEED = new URL("../guest/early_exit_guest.wasm", import.meta.url);

Deno.test("every kind of error has its class and its guard in mod.ts, and each guard knows only its own kind", () => {
  const kinds = Object.keys(ERROR_CLASSES);
  const exported = earlyExit as unknown as Record<string, unknown>;
  for (const kind of kinds) {
    assert.equal(exported[kind], ERROR_CLASSES[kind as never], kind);
    const guard = exported[`is${kind}`] as (value: unknown) => boolean;
    assert.equal(guard.name, `is${kind}`);
    for (const other of kinds) {
      const branded = { [earlyExit.BRAND]: other };
      assert.equal(guard(branded), other === kind, `is${kind} on ${other}`);
    }
    assert.equal(guard(new Error(kind)), false);
  }
});

Deno.test("each stop kind has its own outcome, and the CLI's list is the table's", () => {
  const outcomes = Object.values(STOP_OUTCOMES);
  assert.equal(new Set(outcomes).size, outcomes.length);
  assert.deepEqual(OUTCOMES, ["returned", ...outcomes]);
  for (const kind of Object.keys(STOP_OUTCOMES)) {
    assert.ok(Object.hasOwn(ERROR_CLASSES, kind), kind);
  }
});

Deno.test("a stop's error carries no stack frames; one made by hand keeps its stack", async () => {
  const guest = await earlyExit.loadGuest(SEED);
  const { error } = expectOutcome(guest.invoke("exit_early"), "interrupted");
  assert.ok(error instanceof earlyExit.Interrupted);
  assert.equal(error.constructor, earlyExit.Interrupted);
  assert.equal(error.stack, `Interrupted: ${error.message}`);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "Interrupted");
  assert.equal(error.kind, "Interrupted");
  assert.equal(
    String(error),
    "Interrupted: guest interrupted by host import env.interrupt_execution",
  );
  assert.equal(error.importName, "env.interrupt_execution");
  // Each stop gets its own error.
  const again = expectOutcome(guest.invoke("exit_early"), "interrupted").error;
  assert.notStrictEqual(again, error);
  const aborted = withoutStack(() =>
    new earlyExit.Aborted("user pressed stop")
  );
  assert.ok(earlyExit.isAborted(aborted) && aborted instanceof Error);
  assert.equal(aborted.cause, "user pressed stop");
  assert.equal(aborted.stack, `Aborted: ${aborted.message}`);
  const byHand = new earlyExit.Interrupted("env.stop");
  assert.match(byHand.stack ?? "", /\n\s+at /);
});
