/**
 * The command line's run of a guest it has read: a WASI command runs as a
 * program, with its flags checked first; any other guest is refused the
 * flags that only a WASI command takes.
 *
 * @module
 */

import type { RewriteCache } from "../cache/rewrite_cache.ts";
import { checkCommandLine } from "../wasi/wasi_option_checks.ts";
import { checkPreopens, preopenHolding } from "../wasi/wasi_preopens.ts";
import { UsageError } from "./cli_arguments.ts";
import { stopMessage } from "./cli_messages.ts";
import type { CommandLineOptions } from "./cli_options.ts";
import type { CommandOutput } from "./cli_output.ts";
import type { ReadGuest } from "./cli_read.ts";
import {
  commandRefusal,
  reactorRefusal,
  runWasiCommand,
  type WasiFlags,
  wasiReport,
} from "./wasi_cli.ts";

/**
 * Refuses, for a guest that is not a WASI command, what only a WASI
 * command takes: `--dir`, `--env` and arguments after `--` (and names a
 * reactor's missing `--imports`).
 *
 * @param options The command line's options.
 * @param wasi The WASI flags given.
 * @param guest The guest as read.
 * @throws {UsageError} When a flag is not for this guest.
 */
export function refuseWasiFlags(
  options: CommandLineOptions,
  wasi: WasiFlags,
  { label, signatures }: ReadGuest,
): void {
  const reactor = reactorRefusal(
    label,
    signatures.imports,
    signatures.exportList,
  );
  if (reactor !== undefined && options.imports === undefined) {
    throw new UsageError(reactor);
  }
  if (wasi.preopens.length > 0 || Object.keys(wasi.env).length > 0) {
    throw new UsageError(
      `--dir and --env are for WASI commands, and ${label} is not one (it must import wasi_snapshot_preview1 and export _start)`,
    );
  }
  if (wasi.args.length > 0 && !options.guestGiven) {
    // `main.ts -- -x.wasm`: the guest itself put after --.
    const first = wasi.args[0]!;
    throw new UsageError(
      `no guest was given before --, so the bundled ${label} runs, which is not a WASI command and takes no arguments after --: give the guest before --${
        first.startsWith("-")
          ? ` (a name that starts with a dash as ./${first})`
          : `, as in: main.ts ${first} --`
      }`,
    );
  }
  if (wasi.args.length > 0) {
    throw new UsageError(
      `arguments after -- are for WASI commands, and ${label} is not one; pass an export's arguments with --arg`,
    );
  }
}

/**
 * Runs a WASI command: checks its flags, runs it, and reports a stop (the
 * command's own output passes through).
 *
 * @param out Where the run writes.
 * @param options The command line's options.
 * @param wasi The WASI flags given.
 * @param cache The rewrite cache, if one was given.
 * @param guest The guest as read.
 * @returns The exit status.
 * @throws {UsageError} When a flag is not for this command, or names a
 *   place the guest could write.
 */
export async function runWasiProgram(
  out: CommandOutput,
  options: CommandLineOptions,
  wasi: WasiFlags,
  cache: RewriteCache | undefined,
  { bytes, label, signatures, fromStdin }: ReadGuest,
): Promise<number> {
  const refusal = commandRefusal(label, signatures);
  if (refusal !== undefined) throw new UsageError(refusal);
  if (options.callOptions.length > 0) {
    const given = options.callOptions;
    const one = given.length === 1;
    throw new UsageError(
      `${given.join(", ")} ${
        one ? "is" : "are"
      } for calling an export, and ${label} is a WASI command, which runs as a program: leave ${
        one ? "it" : "them"
      } out (the command's own arguments go after --)`,
    );
  }
  try {
    checkPreopens(wasi.preopens);
  } catch (error) {
    // A directory that is missing, or lacks a permission: the user's to fix.
    throw new UsageError(`--dir: ${(error as Error).message}`);
  }
  try {
    checkCommandLine({
      args: wasi.args,
      env: wasi.env,
      program: label.split("/").pop(),
    });
  } catch (error) {
    // Too many arguments after --, or too many bytes with --env.
    throw new UsageError(
      `the arguments after -- and --env: ${(error as Error).message}`,
    );
  }
  const holder = cache && preopenHolding(wasi.preopens, cache.directory);
  if (holder !== undefined) {
    throw new UsageError(
      `--cache ${
        cache!.directory
      } is inside --dir ${holder.host}, where the guest could change what the next run runs: keep the cache elsewhere`,
    );
  }
  const reportHolder = options.jsonFile === undefined
    ? undefined
    : preopenHolding(wasi.preopens, options.jsonFile);
  if (reportHolder !== undefined) {
    throw new UsageError(
      `--json-file ${options.jsonFile} is inside --dir ${reportHolder.host}, where the guest could replace it with a link to another file before the report is written: keep the report elsewhere`,
    );
  }
  const { result, elapsed, status } = await runWasiCommand(bytes, {
    flags: wasi,
    fuel: options.fuel,
    timeout: options.timeout,
    program: label.split("/").pop(),
    label,
    reportInterrupt: options.json || options.jsonFile !== undefined,
    cache,
    ownsBytes: true,
    stderr: out.commandStderr,
    // Read from stdin, the guest leaves the command nothing to read there.
    stdin: fromStdin ? new Uint8Array(0) : undefined,
    readsStdin: !fromStdin &&
      signatures.imports.some((i) =>
        i.module === "wasi_snapshot_preview1" && i.name === "fd_read"
      ),
  });
  if (options.json || options.jsonFile !== undefined) {
    const report = wasiReport(result, elapsed);
    if (result.outcome !== "exited") report.message = stopMessage(result.error);
    out.sayReport("stderr", report, options.jsonFile);
  }
  if (!options.json && result.outcome !== "exited") {
    out.say("stderr", `${label}: ${stopMessage(result.error)}`);
  }
  return status;
}
