import assert from "./support/assert.ts";
import {
  type CallOptions,
  isExportError,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

const RUNAWAY = new URL("../guest/runaway.wasm", import.meta.url);

function stopped(): StopSignal {
  const stop = new StopSignal();
  stop.stop();
  return stop;
}

Deno.test("a StopSignal on a guest that is not metered throws instead of being ignored", async () => {
  const guest = await loadGuest(RUNAWAY);
  assert.throws(
    () => guest.invoke("spin", [], { stop: stopped() }),
    (e) =>
      isExportError(e) && /StopSignal/.test(e.message) &&
      /not metered/.test(e.message) && /interruptible: true/.test(e.message),
  );
});

Deno.test("a StopSignal on a guest metered for fuel only throws, and says how to get stops", async () => {
  const guest = await loadGuest(RUNAWAY, { fuel: 1_000 });
  assert.throws(
    () => guest.invoke("spin", [], { stop: stopped() }),
    (e) =>
      isExportError(e) && /StopSignal/.test(e.message) &&
      /interruptible: true/.test(e.message),
  );
  // The refused call left the guest as it was.
  expectOutcome(guest.invoke("spin"), "fuel_exhausted");
});

Deno.test("a plain call refuses an AbortSignal, which could not fire while it runs", async () => {
  const guest = await loadGuest(RUNAWAY, { interruptible: true });
  const options = { signal: AbortSignal.timeout(10) } as CallOptions;
  assert.throws(
    () => guest.invoke("spin", [], options),
    (e) => isExportError(e) && /AbortSignal/.test(e.message),
  );
  // The same guest honours a StopSignal.
  expectOutcome(guest.invoke("spin", [], { stop: stopped() }), "aborted");
});
