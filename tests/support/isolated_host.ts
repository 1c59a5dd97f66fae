/**
 * A host that starts isolated calls of a guest that spins for ever and then
 * goes away without ending them: the test kills it, or it exits of its own
 * accord. The calls have no deadline, so only the children's guards can end
 * the children.
 *
 * Usage: `isolated_host.ts <guest.wasm> <imports module URL> <pid file> <calls> <then>`,
 * where `then` is `wait` (until killed) or `exit` (`Deno.exit` from other
 * code while the calls run, once a byte comes on stdin). The imports module adds a line with the
 * child's pid to the pid file when the guest starts spinning; once every
 * call's guest spins, this host prints `children <pid> ...` on stdout.
 */

import { invokeIsolated } from "../../mod.ts";

const [guest, imports, pidFile, calls, then] = Deno.args;

// A call that ends before its guest spins is a failure of the test's set-up:
// the host exits, so that the test fails instead of waiting for its pid.
let ended = 0;
for (let i = 0; i < Number(calls); i++) {
  invokeIsolated(guest, "run", [], {
    imports,
    permissions: { write: [pidFile] },
  }).then(
    (result) => {
      ended++;
      console.error(`a call ended: ${result.outcome}`);
    },
    (error) => {
      ended++;
      console.error(`a call failed: ${error}`);
    },
  );
}

let pids: string[] = [];
while (pids.length < Number(calls)) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  if (ended > 0) Deno.exit(1);
  try {
    pids = Deno.readTextFileSync(pidFile).split("\n").filter((line) =>
      line.endsWith(";")
    );
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
console.log(`children ${pids.map((pid) => pid.slice(0, -1)).join(" ")}`);
if (then === "exit") {
  // Once the test has seen the children: a byte on stdin.
  await Deno.stdin.read(new Uint8Array(1));
  Deno.exit(0);
}
