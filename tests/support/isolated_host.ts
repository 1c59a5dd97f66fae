/**
 * A host that starts an isolated call of a guest that spins for ever and
 * then goes away without ending the call: the test kills it, or it exits
 * of its own accord. The call has no deadline, so only the child's guard
 * can end the child.
 *
 * Usage: `isolated_host.ts <guest.wasm> <imports module URL> <pid file> <then>`,
 * where `then` is `wait` (until killed) or `exit` (`Deno.exit` from other
 * code while the call runs). The imports module writes the child's pid to
 * the pid file when the guest starts spinning; this host then prints
 * `child <pid>` on stdout.
 */

import { invokeIsolated } from "../../mod.ts";

const [guest, imports, pidFile, then] = Deno.args;

const call = invokeIsolated(guest, "run", [], {
  imports,
  permissions: { write: [pidFile] },
});
call.then(
  (result) => console.error(`the call ended: ${result.outcome}`),
  (error) => console.error(`the call failed: ${error}`),
);

let pid = "";
while (pid === "") {
  await new Promise((resolve) => setTimeout(resolve, 5));
  try {
    pid = Deno.readTextFileSync(pidFile);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
console.log(`child ${pid}`);
if (then === "exit") Deno.exit(0);
