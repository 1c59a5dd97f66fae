/**
 * The child side of isolation mode: reads one call from stdin, runs it with
 * the ordinary runner, and writes how it ended to stdout as one JSON line
 * after the host's answer tag; then it exits, whatever the imports module
 * left running.
 *
 * stdin holds a JSON header line, then the module's raw bytes.
 *
 * @module
 */

import { loadGuest } from "../mod.ts";
import { type IsolatedRequest, toWire } from "./isolate_wire.ts";
import { START_FUNCTION, stoppedOutcome } from "./outcome.ts";

async function readAll(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}

const input = await readAll();
const newline = input.indexOf(0x0a);
const request: IsolatedRequest = JSON.parse(
  new TextDecoder().decode(input.subarray(0, newline)),
);
const bytes = input.subarray(newline + 1);
const imports = request.imports === undefined
  ? undefined
  : (await import(request.imports)).default;
let line: string;
try {
  const guest = await loadGuest(bytes, {
    imports,
    fuel: request.fuel ?? undefined,
    limits: request.limits,
    label: request.label,
  });
  const result = guest.invoke(request.export, request.args.map(decodeArgument));
  line = JSON.stringify(toWire(result));
} catch (error) {
  // Calls report their stops as outcomes; only loading throws one, when the
  // start function is stopped.
  line = JSON.stringify(toWire(stoppedOutcome(START_FUNCTION, error) ?? error));
}
const answer = new TextEncoder().encode(`${request.answerTag}${line}\n`);
// The guest's own output may have left a line unfinished.
await writeAll(new Uint8Array([0x0a, ...answer]));
Deno.exit(0);

async function writeAll(bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
}

function decodeArgument(value: string | number): unknown {
  return typeof value === "string" ? BigInt(value) : value;
}
