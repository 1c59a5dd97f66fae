import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runWasi } from "../mod.ts";
import { wasiGuest } from "./support/wasi_guests.ts";

const CHILD = new URL("./support/wasi_stdin_closing_child.ts", import.meta.url);

Deno.test("runWasi: a guest that closes its stdin, or is stopped while it waits for it, leaves this process's stdin to the next run, and one run at a time reads it", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", CHILD.href],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(90_000),
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    said += value;
  }
  assert.equal(said, "stopped\n");
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("after the stop\n"));
  await writer.close();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    said += value;
  }
  const { code } = await child.status;
  const errors = await new Response(child.stderr).text();
  assert.equal(code, 0, errors);
  assert.equal(said, "stopped\nexited: after the stop\n\n");
});

Deno.test("runWasi: a stdin stream whose guest closes its stdin is released, not cancelled, with what it did not read", async () => {
  const closer = await wat(`(module
    (import "wasi_snapshot_preview1" "fd_close"
      (func $close (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start") (drop (call $close (i32.const 0)))))`);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("kept"));
      controller.close();
    },
  });
  const result = await runWasi(closer, { stdin: stream, timeout: 60_000 });
  assert.equal(result.outcome, "exited");
  assert.equal(await new Response(stream).text(), "kept");
});

Deno.test("runWasi: a stdin that another reader holds, this process's or a stream, is refused in one line that says so", async () => {
  const reader = Deno.stdin.readable.getReader();
  try {
    await assert.rejects(
      () => runWasi(wasiGuest("hello"), { stdin: "inherit", timeout: 60_000 }),
      (error: Error) => {
        assert.ok(error instanceof TypeError, String(error));
        assert.match(error.message, /stdin: "inherit"/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
    );
  } finally {
    reader.releaseLock();
  }
  const stream = new ReadableStream<Uint8Array>();
  const holder = stream.getReader();
  await assert.rejects(
    () => runWasi(wasiGuest("hello"), { stdin: stream }),
    (error: Error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /stdin stream is locked/);
      assert.equal(error.message.split("\n").length, 1);
      return true;
    },
  );
  holder.releaseLock();
});
