/**
 * Isolation mode: runs one call in a child Deno process, so that the host
 * can stop any guest, even one that is not instrumented, by killing it.
 *
 * Why a process and not a Worker: since Deno 2.7.6, `Worker.terminate()`
 * does not stop a worker that is busy in wasm or JavaScript, and afterwards
 * the process never exits; worker permissions also need an unstable flag. A
 * child process stops on SIGKILL within milliseconds, runs with exactly the
 * permissions the host gives it (none by default), and cannot keep the host
 * alive. Starting one costs a few tens of milliseconds. The host needs
 * `--allow-run` to spawn it.
 *
 * @module
 */

import { abortStop, deadlineStop } from "./call_watch.ts";
import { GuestLoadError, withoutStack } from "./errors.ts";
import { fromWire, type IsolatedRequest } from "./isolate_wire.ts";
import { loadModule } from "./load.ts";
import { type CallOutcome, stoppedOutcome } from "./outcome.ts";

/** Permissions for the child, as Deno's `--allow-*` flags take them. */
export interface ChildPermissions {
  /** `--allow-read`: `true` for all, or the paths. */
  read?: boolean | string[];
  /** `--allow-write`: `true` for all, or the paths. */
  write?: boolean | string[];
  /** `--allow-net`: `true` for all, or the hosts. */
  net?: boolean | string[];
  /** `--allow-env`: `true` for all, or the variable names. */
  env?: boolean | string[];
  /** `--allow-import`: `true` for all, or the hosts. */
  import?: boolean | string[];
}

/** Options for {@linkcode invokeIsolated}. */
export interface IsolatedCallOptions {
  /** Kills the child after this many milliseconds: `timeout` outcome. */
  timeout?: number;
  /** Kills the child when aborted: `aborted` outcome (or `timeout` for a timed-out signal). */
  signal?: AbortSignal;
  /** Meters the guest in the child with this budget. */
  fuel?: number;
  /**
   * A module (path or URL) whose default export is the guest's imports
   * object, or a function `(host) => imports`: functions cannot cross into
   * another process, so the child imports them itself.
   */
  imports?: string | URL;
  /** The child's permissions. Default: none. */
  permissions?: ChildPermissions;
}

const CHILD = new URL("./isolate_child.ts", import.meta.url);

function permissionFlags(
  permissions: ChildPermissions = {},
  imports: string | undefined,
): string[] {
  const flags: string[] = [];
  // A local module loaded by a dynamic import needs read access to itself.
  if (imports?.startsWith("file:") && permissions.read !== true) {
    permissions = {
      ...permissions,
      read: [
        ...(Array.isArray(permissions.read) ? permissions.read : []),
        decodeURIComponent(new URL(imports).pathname),
      ],
    };
  }
  for (const [name, value] of Object.entries(permissions)) {
    if (value === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(value) && value.length > 0) {
      flags.push(`--allow-${name}=${value.join(",")}`);
    }
  }
  // A child loaded over the network needs to import its own modules.
  if (CHILD.protocol !== "file:" && permissions.import === undefined) {
    flags.push(`--allow-import=${CHILD.host}`);
  }
  return flags;
}

function encodeArgument(value: unknown): string | number {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return value;
  throw new TypeError(
    `isolated calls take numbers and bigints as arguments; got ${typeof value}`,
  );
}

function resolveImports(imports: string | URL | undefined): string | undefined {
  if (imports === undefined) return undefined;
  if (imports instanceof URL) return imports.href;
  if (/^[a-z][a-z0-9+.-]+:/i.test(imports)) return imports;
  return new URL(imports, `file://${Deno.cwd()}/`).href;
}

/**
 * Runs one export of a guest in a child Deno process, and kills the child
 * (SIGKILL) at the deadline or on abort. The result and error types are the
 * same as {@linkcode Guest.invoke}'s; errors are rebuilt in this process
 * as the same branded classes. The guest's start function runs under the
 * same deadline and fuel; when it is stopped, the outcome names the export
 * `"(start)"`. Needs `--allow-run`.
 *
 * @param source The guest: a path, URL, bytes or compiled module's bytes.
 * @param name The export to call.
 * @param args Its arguments: numbers, or bigints for `i64`.
 * @param options The deadline, signal, fuel, imports module and the child's permissions.
 * @returns How the call ended.
 *
 * @example Usage
 * ```ts ignore
 * import { invokeIsolated } from "../mod.ts";
 *
 * // A guest that is not instrumented and never returns: killed after 100 ms.
 * const result = await invokeIsolated("guest/runaway.wasm", "spin", [], { timeout: 100 });
 * console.log(result.outcome); // "timeout"
 * ```
 */
export async function invokeIsolated(
  source: string | URL | Uint8Array | ArrayBuffer,
  name: string,
  args: unknown[] = [],
  options: IsolatedCallOptions = {},
): Promise<CallOutcome> {
  const { bytes, label } = await loadModule(source);
  const request: IsolatedRequest = {
    export: name,
    args: args.map(encodeArgument),
    fuel: options.fuel,
    imports: resolveImports(options.imports),
    label,
  };
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      ...permissionFlags(options.permissions, request.imports),
      CHILD.href,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();

  let killedBy: "timeout" | "aborted" | undefined;
  const kill = (why: "timeout" | "aborted") => {
    if (killedBy !== undefined) return;
    killedBy = why;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const timer = options.timeout === undefined
    ? undefined
    : setTimeout(() => kill("timeout"), options.timeout);
  const signal = options.signal;
  const onAbort = () => kill("aborted");
  signal?.addEventListener("abort", onAbort);
  if (signal?.aborted) onAbort();

  try {
    const writer = child.stdin.getWriter();
    const header = new TextEncoder().encode(`${JSON.stringify(request)}\n`);
    await writer.write(header).catch(() => {});
    await writer.write(bytes!).catch(() => {});
    await writer.close().catch(() => {});
    const [output, errors] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    const status = await child.status;
    if (killedBy !== undefined) {
      return stopped(name, killedBy, started, options);
    }
    const line = output.trim().split("\n").pop();
    if (!status.success || !line) {
      const why = errors.split("\n").find((line) => line.startsWith("error:"))
        ?.slice("error: ".length) ?? `exit code ${status.code}`;
      throw new GuestLoadError(
        "io",
        `the isolated call of ${label} failed: ${why}`,
        "check the permissions given to the child and its imports module",
      );
    }
    return fromWire(JSON.parse(line));
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

function stopped(
  name: string,
  why: "timeout" | "aborted",
  started: number,
  options: IsolatedCallOptions,
): CallOutcome {
  const stop = why === "aborted"
    ? abortStop(options.signal!, started)
    : deadlineStop(options.timeout!, started);
  return stoppedOutcome(name, withoutStack(stop))!;
}
