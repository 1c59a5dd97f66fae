import assert from "./support/assert.ts";
import { runWasi } from "../mod.ts";
import { text, wasiGuest } from "./support/wasi_guests.ts";

Deno.test("runWasi: an empty chunk of a stdin stream is not the end of stdin", async () => {
  const chunks = ["one\n", "", "two\n", "", "", "three\n"];
  const stdin = ReadableStream.from(
    chunks.map((chunk) => new TextEncoder().encode(chunk)),
  );
  const result = await runWasi(wasiGuest("copy"), {
    args: ["-", "-"],
    stdin,
    timeout: 30_000,
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(result.outcome, "exited");
  assert.equal(text(result.stdout), "one\ntwo\nthree\n");
});

Deno.test("runWasi: a stdin stream that gives strings, not bytes, is an error that says how to fix it", async () => {
  const result = await runWasi(wasiGuest("copy"), {
    args: ["-", "-"],
    stdin: ReadableStream.from(["one\n"]) as unknown as ReadableStream<
      Uint8Array
    >,
    timeout: 30_000,
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(result.outcome, "error");
  if (result.outcome === "error") {
    assert.match(result.error.message, /stdin stream gave a string/);
    assert.match(result.error.message, /TextEncoderStream/);
  }
});

Deno.test("runWasi: a stdin stream of nothing but empty chunks is stopped by a deadline and by an abort", async () => {
  const empty = () =>
    new ReadableStream<Uint8Array>({
      pull(stream) {
        stream.enqueue(new Uint8Array(0));
      },
    });
  const timed = await runWasi(wasiGuest("copy"), {
    args: ["-", "-"],
    stdin: empty(),
    timeout: 200,
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(timed.outcome, "timeout");
  const aborted = await runWasi(wasiGuest("copy"), {
    args: ["-", "-"],
    stdin: empty(),
    signal: AbortSignal.timeout(200),
    stdout: "capture",
    stderr: "capture",
  });
  // An AbortSignal.timeout is reported as a deadline.
  assert.equal(aborted.outcome, "timeout");
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const stopped = await runWasi(wasiGuest("copy"), {
    args: ["-", "-"],
    stdin: empty(),
    signal: controller.signal,
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(stopped.outcome, "aborted");
});

Deno.test("runWasi: a deadline that stops a read of a stdin stream cancels the stream, as an abort does", async () => {
  let cancelled = false;
  const silent = new ReadableStream<Uint8Array>({
    pull: () => new Promise(() => {}),
    cancel() {
      cancelled = true;
    },
  });
  const result = await runWasi(wasiGuest("copy"), {
    args: ["-", "-"],
    stdin: silent,
    timeout: 200,
    stdout: "capture",
    stderr: "capture",
  });
  assert.equal(result.outcome, "timeout");
  assert.ok(cancelled);
});
