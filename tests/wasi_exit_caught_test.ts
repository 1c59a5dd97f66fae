import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { text } from "./support/wasi_guests.ts";
import { runWasi } from "../mod.ts";

/**
 * A command that calls `proc_exit(7)` inside a `catch_all` (as C++'s
 * `catch (...)` compiles with wasm exceptions), then, having caught what
 * unwound it, writes "after" and, with `spin`, loops for ever.
 */
function catcher(spin: boolean): Promise<Uint8Array> {
  return wat(`(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (import "wasi_snapshot_preview1" "fd_write"
      (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "\\10\\00\\00\\00\\06\\00\\00\\00")
    (data (i32.const 16) "after\\n")
    (func (export "_start")
      (block $caught
        (try_table (catch_all $caught) (call $exit (i32.const 7))))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1)
        (i32.const 100)))
      ${spin ? "(loop $spin (br $spin))" : ""}))`);
}

const MODES = [
  {},
  { fuel: 1e12 },
  { timeout: 30_000 },
  { timeout: 30_000, async: false },
] as const;

for (const spin of [false, true]) {
  for (const mode of MODES) {
    Deno.test(
      `runWasi ${
        JSON.stringify(mode)
      }: a guest that catches what proc_exit throws has exited all the same${
        spin ? ", and is stopped at its next check" : ""
      }`,
      async () => {
        const result = await runWasi(await catcher(spin), {
          ...mode,
          stdout: "capture",
        });
        assert.equal(result.outcome, "exited", JSON.stringify(result));
        if (result.outcome === "exited") assert.equal(result.code, 7);
        assert.equal(text(result.stdout), "");
      },
    );
  }
}
