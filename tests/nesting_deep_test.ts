/**
 * Two guests calling each other through their imports, 100 deep, each call
 * with a deadline of its own: every deadline and every enclosing one armed
 * on a nested call's flag is kept in a watchdog slot. None goes by message,
 * whose disarm each call's end would wait for, so that unwinding after a
 * stop does not grow by a thread's round trip per level.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { type Guest, loadGuest } from "../mod.ts";
import { messagesPosted } from "../src/watchdog/watchdog.ts";

const DEPTH = 100;
const INNER_TIMEOUT_MS = 2;

const PING = await assembleWat(`
(module
  (import "host" "next" (func $next (param i32)))
  (func (export "down") (param $depth i32)
    (if (i32.eqz (local.get $depth))
      (then (loop $again (br $again)))
      (else (call $next (i32.sub (local.get $depth) (i32.const 1)))))))
`);

Deno.test(`two guests calling each other ${DEPTH} deep, each call with a deadline, post the watchdog no message, and the innermost deadline stops the whole chain`, async () => {
  const guests: Guest[] = [];
  let innermost = "";
  for (const side of [0, 1]) {
    guests.push(
      await loadGuest(PING, {
        interruptible: true,
        imports: {
          host: {
            next: (depth: number) => {
              const outcome = guests[1 - side].invoke("down", [depth], {
                timeout: depth === 0 ? INNER_TIMEOUT_MS : 60_000,
              });
              if (depth === 0) innermost = outcome.outcome;
              if (outcome.outcome !== "returned") throw outcome.error;
            },
          },
        },
      }),
    );
  }
  const descend = () => {
    innermost = "";
    const outcome = guests[0].invoke("down", [DEPTH], { timeout: 60_000 });
    assert.equal(innermost, "timeout");
    assert.equal(outcome.outcome, "error");
  };
  // The first descent binds each guest's flag to the slots it needs.
  descend();
  const posted = messagesPosted();
  descend();
  descend();
  assert.equal(messagesPosted() - posted, 0, "messages posted to the watchdog");
});
