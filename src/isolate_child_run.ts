/**
 * What the isolated child does with its call, once its guard has read it:
 * loads the guest with the ordinary runner, calls the export, writes how it
 * ended after the host's answer tag, and exits.
 *
 * @module
 */

import { loadGuest } from "../mod.ts";
import type { GuardedRequest } from "./isolate_guard.ts";
import { decodeValue, type IsolatedRequest, toWire } from "./isolate_wire.ts";
import { START_FUNCTION, stoppedOutcome } from "./outcome.ts";

/** Runs the call and exits the process. */
export async function runCall(guarded: GuardedRequest): Promise<never> {
  const request: IsolatedRequest = JSON.parse(guarded.header);
  const imports = request.imports === undefined
    ? undefined
    : (await import(request.imports)).default;
  let line: string;
  try {
    const guest = await loadGuest(guarded.module, {
      imports,
      fuel: request.fuel ?? undefined,
      limits: request.limits,
      label: request.label,
    });
    const result = guest.invoke(
      request.export,
      request.args.map(decodeValue),
    );
    line = JSON.stringify(toWire(result));
  } catch (error) {
    // Calls report their stops as outcomes; only loading throws one, when
    // the start function is stopped.
    line = JSON.stringify(
      toWire(stoppedOutcome(START_FUNCTION, error) ?? error),
    );
  }
  const answer = new TextEncoder().encode(`${request.answerTag}${line}\n`);
  // The guest's own output may have left a line unfinished.
  await writeAll(new Uint8Array([0x0a, ...answer]));
  Deno.exit(0);
}

async function writeAll(bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
}
