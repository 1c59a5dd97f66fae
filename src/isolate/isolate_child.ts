/**
 * The child side of isolation mode: starts the guard (which reads the call
 * from stdin and kills this process when the host closes stdin or dies),
 * loads the runner meanwhile, runs the call, and writes how it ended to
 * stdout as one JSON line after the host's answer tag; then it exits,
 * whatever the imports module left running.
 *
 * stdin holds a JSON header line, which states the module's length, then
 * the module's raw bytes, unless the header names the guest's file, which
 * the guard reads; the host keeps it open until the call ends.
 *
 * @module
 */

// Only the guard is imported statically: it starts before the library loads.
import { startGuard } from "./isolate_guard.ts";

const guarded = startGuard();
const [{ runCall }, request] = await Promise.all([
  import("./isolate_child_run.ts"),
  guarded,
]);
await runCall(request);
