/** Serves the checkout over HTTP on 127.0.0.1, as a remote host would. */
import { REPO_ROOT } from "./cli.ts";

const CONTENT_TYPES: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
};

/** A running server; `url` ends with a slash. Dispose it to stop it. */
export interface CheckoutServer extends AsyncDisposable {
  url: URL;
  port: number;
}

/**
 * Serves the repository root on a free port of 127.0.0.1, under a path of
 * its own: Deno caches remote modules by URL, and a port used again by a
 * later server (another checkout's, or an older run's) must not hand a child
 * `deno` a cached copy of other code.
 *
 * @param options.wasmType The content type sent for `.wasm` files.
 */
export function serveCheckout(
  options: { wasmType?: string } = {},
): CheckoutServer {
  const prefix = `/${crypto.randomUUID()}`;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const served = decodeURIComponent(new URL(request.url).pathname);
      if (!served.startsWith(`${prefix}/`)) {
        return new Response("not found", { status: 404 });
      }
      const path = served.slice(prefix.length);
      if (path.includes("..")) return new Response("bad path", { status: 400 });
      const extension = path.slice(path.lastIndexOf("."));
      try {
        const body = await Deno.readFile(new URL(`.${path}`, REPO_ROOT));
        const type = extension === ".wasm" && options.wasmType !== undefined
          ? options.wasmType
          : CONTENT_TYPES[extension] ?? "application/octet-stream";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  const port = server.addr.port;
  return {
    url: new URL(`http://127.0.0.1:${port}${prefix}/`),
    port,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}
