/**
 * A guest read from a path is read up to the largest module the engine
 * compiles (1 GiB), whatever the path names: a device that never ends
 * (`/dev/zero`) would otherwise fill this process's memory. A pipe is read
 * to its end, as a regular file is.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withGuestFifo } from "./support/fifo.ts";
import { isGuestLoadError, loadGuest } from "../mod.ts";
import { MAX_MODULE_BYTES } from "../src/load.ts";

const endless = "/dev/zero";
const hasEndless = await Deno.stat(endless).then(() => true, () => false);
if (!hasEndless) {
  console.warn(`skipping the endless-device test: no ${endless}`);
}

Deno.test({
  name: "a path that never ends is refused past MAX_MODULE_BYTES",
  ignore: !hasEndless,
  async fn() {
    const error = await loadGuest(endless).then(
      () => assert.fail("loaded an endless device"),
      (e) => e,
    );
    assert.ok(isGuestLoadError(error), String(error));
    assert.equal(error.reason, "io");
    assert.match(error.message, new RegExp(`more than ${MAX_MODULE_BYTES}`));
  },
});

Deno.test({
  name: "a guest read from a pipe loads",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withGuestFifo(async (fifo) => {
      const bytes = await Deno.readFile("guest/compute.wasm");
      const writing = Deno.writeFile(fifo, bytes);
      const guest = await loadGuest(fifo);
      await writing;
      assert.equal(guest.invoke("fib", [10]).outcome, "returned");
    });
  },
});
