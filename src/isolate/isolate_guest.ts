/**
 * What an isolated call hands its child: the path of a local guest file,
 * which the child reads itself, or the guest's bytes, which the host writes
 * to the child's stdin.
 *
 * A file the child reads costs the host a few small reads of its outline
 * (see `load_outline.ts`), where reading it whole and writing it to the pipe
 * kept the host's threads busy for as long as the file is large, and the
 * host's thread, waiting for a core among them, noticed the call's deadline
 * late. The child is given read permission for that one file.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  labelOf,
  loadModule,
  localReadError,
  MAX_MODULE_BYTES,
  tooLarge,
  toUrl,
} from "../load/load.ts";
import { readOutline } from "../load/load_outline.ts";

/** The guest as the child gets it. */
export type GuestForChild =
  | {
    /** The guest's name in messages. */
    label: string;
    /** The bytes the host writes to the child's stdin. */
    bytes: Uint8Array;
  }
  | {
    label: string;
    /** The file's path, as the child (which shares the host's working directory) opens it. */
    path: string;
    /** The file's size: the child refuses a file that has changed it. */
    size: number;
    /**
     * The module's outline, for the host's look at its memories and start
     * function (see {@linkcode readOutline}).
     */
    outline: Uint8Array;
  };

/**
 * Reads what the child needs of `source`: a local regular file whose path
 * can be granted to the child by `--allow-read` (no comma) as its path and
 * outline, anything else (bytes, a URL, a pipe, a module whose outline the
 * walk gives up on) as its bytes, as a load reads them.
 *
 * @param source The guest, as the caller gave it.
 * @param signal Aborts a fetch or a pipe's read at the call's stop.
 * @throws {GuestLoadError} When the file cannot be read, as a load says it.
 *
 * @example Usage
 * ```ts ignore
 * import { guestForChild } from "./isolate_guest.ts";
 * const guest = await guestForChild("guest.wasm");
 * console.log("path" in guest ? guest.path : guest.bytes.length);
 * ```
 */
export async function guestForChild(
  source: string | URL | Uint8Array | ArrayBuffer,
  signal?: AbortSignal,
): Promise<GuestForChild> {
  const file = typeof source === "string" || source instanceof URL
    ? await outlineOfFile(toUrl(source))
    : undefined;
  if (file !== undefined) return file;
  const { bytes, label } = await loadModule(source, {
    compile: false,
    signal,
  });
  return { bytes: bytes!, label };
}

/** A local regular file's path and outline, or `undefined` for the load's way. */
async function outlineOfFile(
  target: URL | string,
): Promise<GuestForChild | undefined> {
  if (target instanceof URL && target.protocol !== "file:") return undefined;
  const path = target instanceof URL ? fileURLToPath(target) : target;
  // Deno's --allow-read splits its value at commas.
  if (path.includes(",")) return undefined;
  const label = labelOf(target);
  try {
    // A named pipe is read as a load reads it: opening one waits for a
    // writer.
    const { isFile, size } = await Deno.stat(target);
    if (!isFile) return undefined;
    if (size > MAX_MODULE_BYTES) throw tooLarge(label, "read");
    const file = await Deno.open(target);
    try {
      const outline = await readOutline(file, size, label);
      return outline === undefined ? undefined : { label, path, size, outline };
    } finally {
      file.close();
    }
  } catch (error) {
    throw localReadError(error, label);
  }
}
