/**
 * The branded errors' messages, with their hints made ones for the command
 * line: the API's hints name options (`limits.heap`, `imports`, `cache`)
 * that the command line spells otherwise or does not have.
 *
 * @module
 */

import {
  type EarlyExitError,
  isGuestLoadError,
  isImportError,
} from "../errors.ts";
import { isolatedHintFromCode } from "../isolated_hints.ts";

/**
 * A stop's message, with its hint made one for the command line: the heap
 * limit's names `limits.heap`, which only code can set, where a command
 * line raises V8's heap, of which the default limit is three quarters.
 */
export function stopMessage(error: EarlyExitError): string {
  return error.message.replace(
    /past limits\.heap \((\d+ MiB)\); raise limits\.heap \(bytes\)/,
    "past the heap limit ($1, three quarters of V8's heap); raise it by running deno with --v8-flags=--max-old-space-size=MIB,",
  );
}

/**
 * A branded error's message, with its hint made one for the command line:
 * the API's hints name options the command line does not have.
 */
export function commandLineMessage(error: EarlyExitError): string {
  if (isImportError(error)) {
    return error.message.replace(
      /supply it in the imports option$/,
      "supply it with --imports MODULE, a module whose default export is the guest's imports",
    ).replace(
      /, and runWasi supplies nothing else(.*); build the guest as a WASI command that imports only wasi_snapshot_preview1, .*$/,
      ", the only imports the command line gives a WASI command$1; build the guest to import only wasi_snapshot_preview1",
    );
  }
  if (isGuestLoadError(error) && error.reason === "not_found") {
    return `${error.message}, or leave the guest out to run the bundled one`;
  }
  if (isGuestLoadError(error)) {
    return isolatedHintFromCode(error.message).replace(
      /leave out cache(\)?)$/,
      "leave out --cache$1",
    ).replace(
      /or pass the bytes themselves$/,
      "or - to read the guest from stdin",
    ).replace(
      // The command line has no flag for the limits: only code can raise them.
      /set limits\.memory \(the most bytes each memory may hold, which replaces this default\) to at least (\d+)/,
      "load it from code with limits.memory (the most bytes each memory may hold) set to at least $1, which the command line cannot set",
    );
  }
  return isolatedHintFromCode(error.message);
}
