/**
 * Loads mod.ts twice, once from this checkout by `file:` URL and once from
 * the server given as the first argument by `http:` URL, and prints one
 * line per check. Run in its own process (with `--no-lock`), so that the
 * random port does not end up in the project's lock file.
 */
import * as local from "../../mod.ts";

const base = new URL(Deno.args[0]);
const remote: typeof local = await import(new URL("mod.ts", base).href);
const guestOverHttp = new URL("guest/early_exit_guest.wasm", base);
const guestOnDisk = new URL(
  "../../guest/early_exit_guest.wasm",
  import.meta.url,
);

function report(check: string, value: unknown): void {
  console.log(`${check}: ${value}`);
}

function thrownBy(guest: local.Guest): unknown {
  try {
    guest.call("exit_early");
  } catch (error) {
    return error;
  }
}

report("separate copies", remote.loadGuest !== local.loadGuest);
const overHttp = await remote.loadGuest(guestOverHttp);
report("http copy, guest over http", overHttp.invoke("exit_early").outcome);
const remoteError = thrownBy(await remote.loadGuest(guestOnDisk));
report("instanceof across copies", remoteError instanceof local.Interrupted);
report("file guard on http error", local.isInterrupted(remoteError));
report("file guard, any kind", local.isEarlyExitError(remoteError));
report("file guard, wrong kind", local.isGuestTrap(remoteError));
const localError = thrownBy(await local.loadGuest(guestOverHttp));
report("http guard on file error", remote.isInterrupted(localError));
