/**
 * The options of {@linkcode invokeIsolated}: the child's permissions, its
 * environment and heap, and the call's stops, and the names it accepts.
 *
 * @module
 */

import type { ResourceLimits } from "../module/limits.ts";

/**
 * Permissions for the child, as Deno's `--allow-*` flags take them. These
 * five are the only ones: any other key is refused, and so is a path or
 * name with a comma in it, which Deno's flags would split.
 *
 * @example Usage
 * ```ts
 * import type { ChildPermissions } from "@early-exit/early-exit";
 *
 * // The child may read ./data and nothing else.
 * const permissions: ChildPermissions = { read: ["data"] };
 * console.log(permissions);
 * ```
 */
export interface ChildPermissions {
  /**
   * `--allow-read`: `true` for all, or the paths.
   *
   * @default false
   */
  read?: boolean | string[];
  /**
   * `--allow-write`: `true` for all, or the paths.
   *
   * @default false
   */
  write?: boolean | string[];
  /**
   * `--allow-net`: `true` for all, or the hosts.
   *
   * @default false
   */
  net?: boolean | string[];
  /**
   * `--allow-env`: `true` for all, or the variable names.
   *
   * @default false
   */
  env?: boolean | string[];
  /**
   * `--allow-import`: `true` for all, or the hosts.
   *
   * @default false
   */
  import?: boolean | string[];
}

/**
 * Options for {@linkcode invokeIsolated}.
 *
 * @example Usage
 * ```ts
 * import type { IsolatedCallOptions } from "@early-exit/early-exit";
 *
 * // A deadline, a fuel budget and a 64 MiB heap for the child.
 * const options: IsolatedCallOptions = { timeout: 1_000, fuel: 1e9, maxHeapMiB: 64 };
 * console.log(options);
 * ```
 */
export interface IsolatedCallOptions {
  /**
   * Kills the child after this many milliseconds: `timeout` outcome.
   *
   * @default undefined (no deadline)
   */
  timeout?: number;
  /**
   * Kills the child when aborted: `aborted` outcome (or `timeout` for a
   * timed-out signal).
   *
   * @default undefined
   */
  signal?: AbortSignal;
  /**
   * Meters the guest in the child with this budget.
   *
   * @default undefined (not metered)
   */
  fuel?: number;
  /**
   * The guest's memory, table and array limits, as `GuestOptions.limits`: a grow
   * past one returns -1, and a guest that starts above one ends the call
   * with a `GuestLoadError` (reason `limits`). Without `tables`, the
   * guest's own tables may grow to 1,000,000 elements together, or stay at
   * what they start with when that is more. Without `memory` (or
   * `maxHeapMiB`), its own memories may grow to 4 GiB together.
   *
   * @default undefined (memories and tables as above)
   */
  limits?: ResourceLimits;
  /**
   * A module whose default export is the guest's imports object, or a
   * function `(host) => imports`: functions cannot cross into another
   * process, so the child imports them itself. Give a URL, best made
   * relative to your own module as
   * `new URL("../load/imports.ts", import.meta.url)`. A path is resolved against
   * the working directory, as `Deno.readFile` resolves one (a library cannot
   * know its caller's location). The child may read a local module without
   * being given `read`.
   *
   * @default undefined (no imports but the interrupt)
   */
  imports?: string | URL;
  /**
   * The child's permissions. A guest given as a local file is read by the
   * child itself, which may always read that one file.
   *
   * @default {} (none but the guest's file)
   */
  permissions?: ChildPermissions;
  /**
   * The child's environment variables. The child starts with an empty
   * environment (the host's is not inherited), plus these; it reads them
   * only if `permissions.env` allows it.
   *
   * @default {}
   */
  env?: Record<string, string>;
  /**
   * The child's heap limit in MiB (V8's `--max-old-space-size`). A child
   * that reaches it dies, and the call ends with the `out_of_memory`
   * outcome. Without it, V8's own limit applies, which may be most of the
   * machine's memory.
   *
   * It bounds V8's heap: JavaScript objects, and the guest's GC objects
   * and tables. It also bounds the guest's linear memories, which are
   * outside that heap: together they hold at most `maxHeapMiB` MiB (each
   * of `n` memories an `n`th of it, or `limits.memory` where that is
   * smaller), so a `memory.grow` past that returns -1, and a guest whose
   * memory starts above it is refused with a `GuestLoadError` (reason
   * `limits`). So the child holds at most about twice `maxHeapMiB`, plus
   * the runtime's own. Without it, the heap is not bounded, and the
   * guest's own memories hold 4 GiB together, or `limits.memory` each (a
   * child past the machine's memory is, on Linux, what the OOM killer ends
   * first, where `--allow-run` allows `choom`).
   *
   * @default undefined
   */
  maxHeapMiB?: number;
}

/** Every option {@linkcode invokeIsolated} takes. */
export const ISOLATED_OPTION_NAMES: readonly (keyof IsolatedCallOptions)[] = [
  "timeout",
  "signal",
  "fuel",
  "limits",
  "imports",
  "permissions",
  "env",
  "maxHeapMiB",
];
