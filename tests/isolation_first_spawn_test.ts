/**
 * A process's first isolated call readies its first spawn in pieces (Deno's
 * process code, then each wrapper's probe), each in a turn of the event loop
 * of its own, so that a deadline falling among them is seen between them
 * rather than after all of them.
 */

import assert from "./support/assert.ts";
import { setImmediate } from "node:timers";
import { isolatedChildrenExited } from "../mod.ts";

Deno.test("isolation: the first spawn is readied in pieces, with turns of the event loop between them", async () => {
  // A copy of the module of its own, whose first spawn is still to come.
  const { readySpawn } = await import(
    new URL("../src/isolate/isolate_spawn.ts?first-spawn", import.meta.url).href
  ) as typeof import("../src/isolate/isolate_spawn.ts");
  let ready = false;
  const readying = readySpawn().then(() => ready = true);
  assert.equal(readySpawn(), readySpawn(), "later calls share the first");
  let turns = 0;
  while (!ready) {
    await new Promise((resolve) => setImmediate(resolve));
    turns++;
  }
  await readying;
  // One turn after each of the three pieces, at least.
  assert.ok(turns >= 3, `the event loop turned ${turns} times`);
  // Once readied, it is done: no more turns.
  let again = 0;
  const done = readySpawn().then(() => again);
  await new Promise((resolve) => setImmediate(resolve));
  again++;
  assert.equal(await done, 0);
  // The probes the pieces started.
  await isolatedChildrenExited();
});
