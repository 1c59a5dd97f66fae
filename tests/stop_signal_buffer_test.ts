/**
 * `new StopSignal(buffer)` wraps the `buffer` of another `StopSignal`. An
 * `ArrayBuffer` (which a Worker gets a copy of, so that its stop never
 * reaches), a number, or a shared buffer too short for the flag was taken
 * without a word (or with V8's "Invalid typed array length: 1"), and the
 * mistake surfaced only at a call, or never. It is refused at once, in one
 * line that says what to pass.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { StopSignal } from "../mod.ts";

Deno.test("new StopSignal(buffer) refuses what is not a shared buffer of 4 bytes or more", () => {
  for (
    const buffer of [new ArrayBuffer(4), 5, "flag", new SharedArrayBuffer(2)]
  ) {
    assert.throws(
      () => new StopSignal(buffer as never),
      (error: Error) => {
        assert.ok(error instanceof TypeError, String(error));
        assert.match(error.message, /^new StopSignal\(buffer\)/);
        assert.match(error.message, /SharedArrayBuffer/);
        assert.ok(!error.message.includes("\n"));
        return true;
      },
    );
  }
  // What another StopSignal's buffer is, and a larger one, are taken.
  const first = new StopSignal();
  const second = new StopSignal(first.buffer);
  second.stop();
  assert.ok(first.stopped);
  assert.equal(new StopSignal(new SharedArrayBuffer(16)).stopped, false);
});
