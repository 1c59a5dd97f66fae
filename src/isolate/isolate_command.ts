/**
 * The child's command line and environment, from an isolated call's
 * options: each permission as Deno's `--allow-*` flag (refusing what the
 * flag would read as something else), the heap limit as V8's flag, the
 * imports module's URL, and the environment, checked.
 *
 * @module
 */

import type { ChildPermissions } from "./isolate_options.ts";
import { describeValue } from "../option_checks.ts";
import { ownUrl } from "../caller_urls.ts";

/** `maxHeapMiB`'s unit, in bytes. */
export const MIB = 1024 * 1024;

/** The largest `maxHeapMiB` whose bytes are still a safe integer. */
const MAX_HEAP_MIB = Math.floor(Number.MAX_SAFE_INTEGER / MIB);

/** The child's own module, which `deno run` starts. */
export const CHILD = new URL("./isolate_child.ts", import.meta.url);

const PERMISSION_NAMES: readonly (keyof ChildPermissions)[] = [
  "read",
  "write",
  "net",
  "env",
  "import",
];

/** The entries of a permission, checked: strings Deno's flag can carry. */
function permissionValue(name: string, value: unknown): boolean | string[] {
  if (value === undefined || typeof value === "boolean") return value ?? false;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new TypeError(
      `invokeIsolated's permissions.${name} must be true, false or an array of strings; got ${
        describeValue(value)
      }`,
    );
  }
  const split = value.find((entry) => entry.includes(","));
  if (split !== undefined) {
    throw new TypeError(
      `permissions.${name} cannot hold ${
        JSON.stringify(split)
      }: Deno's --allow-${name} flag splits its list at commas, so a comma in a path or name would grant something else`,
    );
  }
  const cut = value.find((entry) => entry.includes("\0"));
  if (cut !== undefined) {
    throw new TypeError(
      `permissions.${name} cannot hold ${
        JSON.stringify(cut)
      }: a NUL byte cannot be passed in a command-line flag; remove it`,
    );
  }
  return value;
}

/**
 * The child's `--allow-*` flags: the permissions given, read access to a
 * local imports module, which its dynamic import needs, and to the guest's
 * file when the child reads it itself (`guestPath`).
 */
export function permissionFlags(
  permissions: ChildPermissions = {},
  imports: string | undefined,
  guestPath?: string,
): string[] {
  for (const name of Object.keys(permissions)) {
    if (!(PERMISSION_NAMES as readonly string[]).includes(name)) {
      throw new TypeError(
        `the isolated child cannot be given the permission "${name}": it may have ${
          PERMISSION_NAMES.join(", ")
        }`,
      );
    }
  }
  const granted = new Map(
    PERMISSION_NAMES.map((name) => [
      name,
      permissionValue(name, permissions[name]),
    ]),
  );
  // A local module loaded by a dynamic import needs read access to itself.
  const read = granted.get("read")!;
  if (imports?.startsWith("file:") && read !== true) {
    const path = decodeURIComponent(new URL(imports).pathname);
    if (path.includes(",")) {
      throw new TypeError(
        `the imports module ${
          JSON.stringify(path)
        } has a comma in its path, which Deno's --allow-read flag would split into paths that grant something else; move it to a path without one`,
      );
    }
    granted.set("read", [...(read === false ? [] : read), path]);
  }
  // A guest file the child reads itself (it has no comma: see
  // `isolate_guest.ts`).
  const reading = granted.get("read")!;
  if (guestPath !== undefined && reading !== true) {
    granted.set("read", [...(reading === false ? [] : reading), guestPath]);
  }
  const flags: string[] = [];
  for (const [name, value] of granted) {
    if (value === true) flags.push(`--allow-${name}`);
    else if (value !== false && value.length > 0) {
      flags.push(`--allow-${name}=${value.join(",")}`);
    }
  }
  // A child loaded over the network needs to import its own modules.
  if (CHILD.protocol !== "file:" && permissions.import === undefined) {
    flags.push(`--allow-import=${CHILD.host}`);
  }
  return flags;
}

/** The child's heap limit as V8's flag, once checked. */
export function heapFlags(maxHeapMiB: number | undefined): string[] {
  if (maxHeapMiB === undefined) return [];
  // As bytes it bounds the guest's memories too (`limits.memory`).
  if (
    !Number.isSafeInteger(maxHeapMiB) || maxHeapMiB <= 0 ||
    maxHeapMiB > MAX_HEAP_MIB
  ) {
    throw new RangeError(
      `maxHeapMiB must be a positive whole number of MiB, at most ${MAX_HEAP_MIB}; got ${maxHeapMiB}`,
    );
  }
  return [`--v8-flags=--max-old-space-size=${maxHeapMiB}`];
}

/**
 * The child's whole environment: `env`, checked to reach it as given, and
 * nothing of the host's.
 */
export function childEnv(
  env: Record<string, string> = {},
): Record<string, string> {
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string") {
      throw new TypeError(
        `invokeIsolated's env.${name} must be a string; got ${
          describeValue(value)
        }`,
      );
    }
    // The environment is C strings of NAME=VALUE: a NUL would cut one
    // short, and an "=" in a name make it another variable.
    if (name === "" || name.includes("=") || name.includes("\0")) {
      throw new TypeError(
        `env has a variable named ${
          JSON.stringify(name)
        }, which the child would not see as given: a name must be non-empty and hold no "=" or NUL; rename it`,
      );
    }
    if (value.includes("\0")) {
      throw new TypeError(
        `env.${name} holds a NUL byte, which would end it there for the child; remove it`,
      );
    }
  }
  return { ...env, NO_COLOR: "1" };
}

/**
 * The imports module as a URL the child can import: a path is resolved
 * against this process's working directory, not the child's module.
 */
export function resolveImports(
  imports: string | URL | undefined,
): string | undefined {
  if (imports === undefined) return undefined;
  if (imports instanceof URL) return ownUrl(imports).href;
  if (/^[a-z][a-z0-9+.-]+:/i.test(imports)) return imports;
  return new URL(imports, `file://${Deno.cwd()}/`).href;
}
