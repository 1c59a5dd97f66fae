/**
 * What main.ts does with a WASI command, for tests: `[--fuel N] [--timeout
 * MS] [--dir HOST[::GUEST]] [--env K=V] PROG.wasm -- ARGS`, the report as
 * JSON on stderr's last line, and the exit status.
 */
import {
  parseWasiFlags,
  runWasiCommand,
  wasiReport,
} from "../../src/wasi_cli.ts";

const flags = parseWasiFlags(Deno.args);
const number = (name: string) => {
  const at = flags.rest.indexOf(name);
  return at < 0 ? undefined : Number(flags.rest.splice(at, 2)[1]);
};
const fuel = number("--fuel");
const timeout = number("--timeout");
const program = flags.rest[0];
const { result, elapsed, status } = await runWasiCommand(program, {
  flags,
  fuel,
  timeout,
  program: program.split("/").pop(),
});
console.error(JSON.stringify(wasiReport(result, elapsed)));
Deno.exit(status);
