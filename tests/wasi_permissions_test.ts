import assert from "./support/assert.ts";

const CHILD = new URL("./support/wasi_child.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url).pathname;

async function runChild(permissions: string[], args: string[] = []) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...permissions, CHILD.pathname, ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

Deno.test("a guest's stdio passes through, without node:wasi's ExperimentalWarning", async () => {
  const child = await runChild([`--allow-read=${ROOT}`]);
  assert.equal(child.stdout, "hi, child!\n");
  assert.equal(child.stderr, "1 arguments\n");
  assert.equal(child.code, 0);
});

Deno.test("a preopen without write permission is refused with the flag to add", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = await runChild([`--allow-read=${ROOT},${dir}`], [dir]);
    assert.notEqual(child.code, 0);
    assert.match(child.stderr, /NotCapable/);
    assert.ok(
      child.stderr.includes(`run with --allow-write=${dir} `),
      child.stderr,
    );
    assert.ok(!child.stderr.includes("--allow-read="), child.stderr);
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("a preopen without read permission is refused with the flags to add", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = await runChild([`--allow-read=${ROOT}`], [dir]);
    assert.notEqual(child.code, 0);
    assert.ok(
      child.stderr.includes(`--allow-read=${dir} --allow-write=${dir}`),
      child.stderr,
    );
    assert.doesNotMatch(child.stderr, /UVWASI_ENOENT/);
  } finally {
    await Deno.remove(dir);
  }
});
