/**
 * A server on 127.0.0.1 whose module never ends: it sends a WebAssembly
 * preamble and then nothing, as a stalled network would.
 */

/** A running stalled server. */
export interface StalledServer {
  /** Where its module is. */
  url: URL;
  /** Ends its responses and stops it. */
  close(): Promise<void>;
}

/**
 * Starts a stalled server.
 *
 * @param type The `content-type` it sends.
 * @returns The server.
 */
export function stalledServer(type = "application/wasm"): StalledServer {
  const streams: ReadableStreamDefaultController<Uint8Array>[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            streams.push(controller);
            controller.enqueue(new Uint8Array([0, 0x61, 0x73, 0x6d]));
          },
        }),
        { headers: { "content-type": type } },
      ),
  );
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}/guest.wasm`),
    async close() {
      for (const stream of streams) {
        try {
          stream.close();
        } catch {
          // Cancelled by the aborted fetch already.
        }
      }
      await server.shutdown();
    },
  };
}
