import assert from "./support/assert.ts";
import { runWasi } from "../mod.ts";
import { text, wasiGuest } from "./support/wasi_guests.ts";

async function withDirs(
  test: (readOnly: string, readWrite: string) => Promise<void>,
): Promise<void> {
  const readOnly = await Deno.makeTempDir();
  const readWrite = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${readOnly}/in.txt`, "in a read-only dir\n");
    await test(readOnly, readWrite);
  } finally {
    await Deno.remove(readOnly, { recursive: true });
    await Deno.remove(readWrite, { recursive: true });
  }
}

Deno.test("copy: a file from a read-only preopen to a read-write one", () =>
  withDirs(async (readOnly, readWrite) => {
    const result = await runWasi(wasiGuest("copy"), {
      args: ["/in/in.txt", "/out/copy.txt"],
      preopens: [
        { host: readOnly, guest: "/in", mode: "read-only" },
        { host: readWrite, guest: "/out" },
      ],
      stderr: "capture",
    });
    assert.equal(result.outcome, "exited");
    if (result.outcome === "exited") assert.equal(result.code, 0);
    assert.equal(text(result.stderr), "copied 19 bytes\n");
    assert.equal(
      await Deno.readTextFile(`${readWrite}/copy.txt`),
      "in a read-only dir\n",
    );
  }));

Deno.test("a read-only preopen refuses writes with EROFS", () =>
  withDirs(async (readOnly) => {
    const result = await runWasi(wasiGuest("copy"), {
      args: ["/in/in.txt", "/in/copy.txt"],
      preopens: [{ host: readOnly, guest: "/in", mode: "read-only" }],
      stderr: "capture",
    });
    assert.equal(result.outcome, "exited");
    if (result.outcome === "exited") assert.equal(result.code, 1);
    assert.match(text(result.stderr), /\/in\/copy\.txt: Read-only file system/);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(readOnly))).map((e) => e.name),
      ["in.txt"],
    );
  }));

/** How many descriptors this process has open, as `ls` sees them. */
function openDescriptors(): number {
  // Deno needs every permission to read /proc/self; a child needs none.
  const { stdout } = new Deno.Command("ls", { args: [`/proc/${Deno.pid}/fd`] })
    .outputSync();
  return new TextDecoder().decode(stdout).trim().split("\n").length;
}

Deno.test({
  name: "a stopped guest's files and preopens are closed",
  ignore: Deno.build.os !== "linux",
  fn: () =>
    withDirs(async (readOnly) => {
      await Deno.writeFile(`${readOnly}/big.bin`, new Uint8Array(1 << 20));
      const run = () =>
        runWasi(wasiGuest("copy"), {
          args: ["/in/big.bin", "-"],
          preopens: [{ host: readOnly, guest: "/in", mode: "read-only" }],
          fuel: 200_000,
          stdout: "ignore",
          stderr: "ignore",
        });
      assert.equal((await run()).outcome, "fuel_exhausted");
      openDescriptors();
      const before = openDescriptors();
      for (let i = 0; i < 20; i++) {
        assert.equal((await run()).outcome, "fuel_exhausted");
      }
      // Left open, each run keeps at least one: 20 or more.
      // The process's own count moves by a few as it works.
      const leaked = openDescriptors() - before;
      assert.ok(leaked < 10, `${leaked} more descriptors open`);
    }),
});
