/**
 * The command line's `--help`: its options, outcomes, exit statuses and
 * permissions, kept beside `main.ts` rather than before its code.
 *
 * @module
 */

import { WASI_STOP_STATUS } from "./wasi_cli.ts";

/** What `main.ts --help` prints. */
export const USAGE =
  `Usage: deno run --allow-read main.ts [options] [GUEST.wasm]

Runs one export of a WebAssembly guest, supplying the host import
env.interrupt_execution, which stops the guest when called. GUEST.wasm is a
path, a file:/http:/https: URL, or - to read it from stdin; by default, the
bundled guest guest/early_exit_guest.wasm (read from beside main.ts).

Options:
  --invoke NAME      the export to call (default: exit_early)
  --arg VALUE        an argument for the export; repeat for each one, in order.
                     i32 and i64 take a decimal integer in the type's range
                     (signed or unsigned: -2147483648 to 4294967295 for i32),
                     f32 and f64 a decimal number; negative ones as --arg -1
  --imports MODULE   a module (path or URL) whose default export is the
                     guest's other imports: an object such as
                     { env: { log(n) { console.log(n); } } }, or a function
                     (host) => imports; paths resolve against the working
                     directory, and reading it needs --allow-read
  --fuel N           meter the call: stop it after N units of work, a whole
                     number such as 1000000 or 1e6 (one unit per operator;
                     see docs/cost-model.md)
  --timeout MS       stop the run after MS milliseconds (0 or more), even a
                     guest that never calls the host: the guest's read, the
                     --imports module, the rewrite and the start function
                     count too (a timeout that says where it passed)
  --cache DIR        keep the metered rewrite in the directory DIR, so that
                     the next run of the same guest with the same options
                     reads it instead of rewriting (for a WASI command too);
                     needs --allow-read=DIR --allow-write=DIR
  --expect OUTCOME   the outcome that counts as success: returned, interrupted,
                     fuel_exhausted, timeout, trap, error, aborted or
                     out_of_memory (default: interrupted when calling
                     exit_early, returned otherwise)
  --json             print one JSON object instead of text:
                     {"outcome", "export", "value"?, "trap"?, "fuel"?,
                      "elapsed_ms"?, "message"}; "fuel" is
                     {"consumed", "remaining"} with --fuel or --timeout
                     (remaining is null when unlimited); a value JSON
                     cannot hold (an i64 past 2^53, Infinity, NaN, -0)
                     is a string. A usage or load
                     error prints {"outcome": "usage_error" or
                     "load_error", "error"?, "message"} (exit 2); an
                     internal error {"outcome": "internal_error", ...}
  --json-file FILE   write that JSON object to FILE instead (replacing what
                     it held), once the run ends; stdout and stderr then
                     carry what they carry without --json. It needs
                     --allow-write=FILE, checked before the guest is read;
                     it may not be the guest or the --imports module, nor
                     lie in a --dir, which the guest can write
  -h, --help         print this help
  -V, --version      print early-exit's version

A WASI command (a module that imports wasi_snapshot_preview1 and exports
_start) runs as a program instead, with --fuel and --timeout as above
(--invoke, --arg, --expect and --imports are refused):
  deno run --allow-read=. main.ts [--fuel N] [--timeout MS]
      [--dir HOST[::GUEST]] [--env K=V] prog.wasm -- ARGS...
  --dir HOST[::GUEST] preopens the host directory HOST as GUEST (default:
                     HOST), read-write; it needs --allow-read and
                     --allow-write for HOST
  --env K=V          sets the guest's environment variable K (once each)
Its stdin, stdout and stderr are this process's. The exit status is the
guest's exit code when it exits (1 for a code outside 0-255); otherwise
timeout ${WASI_STOP_STATUS.timeout}, fuel_exhausted ${WASI_STOP_STATUS.fuel_exhausted}, Ctrl-C ${WASI_STOP_STATUS.aborted}, trap ${WASI_STOP_STATUS.trap}, any other ending ${WASI_STOP_STATUS.error},
and 2 for a usage or load error.
With --json, one JSON object on stderr says how it ended: {"outcome",
"code"?, "message"?, "fuel"?, "elapsed_ms"}, so stdout stays the guest's
("elapsed_ms" counts from the start of the load, rewrite included). It is
stderr's last line, on a line of its own: read that one, as the guest may
write lines of the same shape before it. With --json-file FILE, the object
goes to FILE, and stderr gets only the guest's text and, when the guest
did not exit, one line that says why.
Without --json or --json-file, Ctrl-C ends the process at once, as it would
a native program's (status 130), and the guest runs as a plain call, with
cheaper checks (--timeout then stops it through a flag that another thread
sets); but a guest that imports fd_read, run with --timeout, runs as an
async guest, so that the deadline can end a wait for stdin, and Ctrl-C
stops it (130).

A guest's start function runs first, under the same --fuel and --timeout; if
it does not return, its outcome is reported for the export "(start)".

Outcomes: returned (the export returned a value), interrupted (a host import
stopped the guest), fuel_exhausted (the --fuel budget ran out), timeout (the
--timeout passed), trap (the guest trapped: unreachable, out-of-bounds access,
divide by zero, stack overflow, ...), error (a host import threw), aborted
(Ctrl-C, SIGTERM or SIGHUP: the call is stopped cleanly), out_of_memory (the
guest's GC objects would fill the heap: past three quarters of what
--v8-flags=--max-old-space-size=MiB lets V8 hold).

Every call runs metered and async, so that Ctrl-C (SIGINT) stops even a
guest that never calls the host; SIGTERM and SIGHUP stop it the same way
(status 143 and 129), with the report whole; a second signal ends the
process at once. An option that takes one value may be given once. A
guest whose name starts with a dash goes as ./-NAME.wasm. A guest read
from a FIFO waits for its writer (bounded by --timeout).

Exit status:
  0    the outcome was the expected one
  1    the call ended another way
  2    usage error, missing read permission, unreadable file, not a valid
       module, a missing import or export, a --cache directory without
       read and write permission, a --json-file that cannot be written,
       or a report stdout cannot take (one line on stderr says how to
       fix it)
  3    internal error (a bug in early-exit; please report it)
  130  the call was aborted with Ctrl-C (SIGINT); 143 SIGTERM, 129 SIGHUP
  137  --timeout passed while the --imports module's own code held the
       thread: the report was written and the process killed

Permissions: --allow-read for the guest file (--allow-read=guest is enough
for the bundled guests); --allow-net=HOST for a guest given by http(s) URL.`;
