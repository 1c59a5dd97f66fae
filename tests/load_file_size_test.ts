/**
 * A guest read from a path is read up to the largest module the engine
 * compiles (1 GiB), whatever the path names, and a device that never ends
 * (`/dev/zero`) is refused at its first bytes, which are not wasm, rather
 * than fill this process's memory (the cap itself is the one a URL's body
 * meets: `url_size_test.ts`). A pipe is read to its end, as a regular file
 * is.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withGuestFifo } from "./support/fifo.ts";
import { isInvalidModule, loadGuest } from "../mod.ts";

const endless = "/dev/zero";
const hasEndless = await Deno.stat(endless).then(() => true, () => false);
if (!hasEndless) {
  console.warn(`skipping the endless-device test: no ${endless}`);
}

Deno.test({
  name: "a path that never ends is refused at its first bytes",
  ignore: !hasEndless,
  async fn() {
    const error = await loadGuest(endless).then(
      () => assert.fail("loaded an endless device"),
      (e) => e,
    );
    assert.ok(isInvalidModule(error), String(error));
    assert.match(error.message, /does not start with \\0asm/);
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
