import assert from "./support/assert.ts";

Deno.test("a FuelMeter starts the watchdog's thread with its first run that has a deadline, which the flag alone then keeps", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      new URL("./support/meter_watchdog_child.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder();
  assert.equal(code, 0, text.decode(stderr));
  assert.deepEqual(JSON.parse(text.decode(stdout)), {
    quick: "returned",
    before: false,
    stopped: "timeout",
    after: true,
  });
});
