/**
 * Servers whose guest never arrives, for guests given by URL: one that
 * holds the connections made to it, and one that answers with a module's
 * first bytes and then nothing.
 */

/** How long a wait that should end at once may take, on a busy machine. */
export const HANG_MS = 20_000;

/**
 * A server on 127.0.0.1 that accepts connections and holds them; with a
 * `reply`, it writes it once the request has come, and then nothing more.
 */
export function holdingServer(reply?: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const replies: Promise<void>[] = [];
  const answer = async (connection: Deno.Conn) => {
    try {
      // After the request: a client drops a reply that comes before it.
      await connection.read(new Uint8Array(64 * 1024));
      await connection.write(new TextEncoder().encode(reply));
    } catch {
      // Closed.
    }
  };
  const accepting = (async () => {
    try {
      for await (const connection of listener) {
        held.push(connection);
        if (reply !== undefined) replies.push(answer(connection));
      }
    } catch {
      // Closed.
    }
  })();
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}/guest.wasm`,
    async close() {
      listener.close();
      for (const connection of held) connection.close();
      await accepting;
      await Promise.all(replies);
    },
  };
}

/** Whether `promise` settles within {@linkcode HANG_MS}. */
export async function settles(promise: Promise<unknown>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), HANG_MS);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a holding server sends before it holds, by how it misbehaves. */
export const REPLIES: Record<string, string | undefined> = {
  "never answers": undefined,
  "stops halfway through the body":
    "HTTP/1.1 200 OK\r\ncontent-type: application/wasm\r\ncontent-length: 1000\r\n\r\n\0asm",
};

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
