/**
 * An isolated child runs at a lower scheduling priority than its host, so
 * that the host's thread, waking at a deadline, does not wait for the
 * child's threads; where the host may not run `nice`, at the host's own.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { invokeIsolated } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { withDirectory } from "./support/temp_directory.ts";

const LINUX = Deno.build.os === "linux";
const HANG_MS = 120_000;

/** A process's nice value, as `ps` reports it. */
async function niceOf(pid: number): Promise<number> {
  const { code, stdout } = await new Deno.Command("ps", {
    args: ["-o", "ni=", "-p", String(pid)],
  }).output();
  assert.equal(code, 0, `ps found no process ${pid}`);
  return Number(new TextDecoder().decode(stdout).trim());
}

/**
 * A guest that writes its process's pid to `pidFile`, then spins, and the
 * imports module that does the writing.
 */
async function spinner(dir: string, pidFile: string) {
  const imports = `${dir}/imports.ts`;
  await Deno.writeTextFile(
    imports,
    `export default { host: { started() {
      Deno.writeTextFileSync(${JSON.stringify(pidFile)}, String(Deno.pid));
    } } };\n`,
  );
  const bytes = await assembleWat(
    `(module (import "host" "started" (func $started))
      (func (export "run") (call $started) (loop $l (br $l))))`,
  );
  return { bytes, imports: new URL(`file://${imports}`) };
}

/** The pid in `pidFile`, once it is there. */
async function pidIn(pidFile: string): Promise<number> {
  for (;;) {
    const text = await Deno.readTextFile(pidFile).catch(() => "");
    if (text !== "") return Number(text);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test({
  name: "isolation: the child runs 10 nice levels below its host",
  ignore: !LINUX,
  async fn() {
    await withDirectory(async (dir) => {
      const pidFile = `${dir}/pid`;
      const { bytes, imports } = await spinner(dir, pidFile);
      const abort = new AbortController();
      const call = invokeIsolated(bytes, "run", [], {
        imports,
        permissions: { write: [pidFile] },
        signal: abort.signal,
        timeout: HANG_MS,
      });
      const child = await niceOf(await pidIn(pidFile));
      abort.abort();
      expectOutcome(await call, "aborted");
      assert.equal(child, Math.min(19, (await niceOf(Deno.pid)) + 10));
    });
  },
});

Deno.test({
  name:
    "isolation: a host that may run only Deno gets a child at its own priority, without a prompt",
  ignore: !LINUX,
  async fn() {
    await withDirectory(async (dir) => {
      const pidFile = `${dir}/pid`;
      const { bytes, imports } = await spinner(dir, pidFile);
      const guest = `${dir}/guest.wasm`;
      await Deno.writeFile(guest, bytes);
      const host = `${dir}/host.ts`;
      await Deno.writeTextFile(
        host,
        `import { invokeIsolated } from ${
          JSON.stringify(new URL("../mod.ts", import.meta.url).href)
        };
        await invokeIsolated(${JSON.stringify(guest)}, "run", [], {
          imports: ${JSON.stringify(imports.href)},
          permissions: { write: [${JSON.stringify(pidFile)}] },
        });\n`,
      );
      const hostProcess = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          `--allow-run=${Deno.execPath()}`,
          host,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        const child = await niceOf(await pidIn(pidFile));
        assert.equal(child, await niceOf(Deno.pid));
      } finally {
        // The child's guard ends the child with its host.
        hostProcess.kill("SIGKILL");
        await hostProcess.status;
      }
    });
  },
});
