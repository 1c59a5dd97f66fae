/**
 * The rewrite cache across processes: the permissions it needs, writers at
 * once, an entry from another rewriter, an entry the engine refuses, and a
 * file of gigabytes in an entry's place.
 */
import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { loadGuest, RewriteCache } from "../mod.ts";
import { COMPUTE } from "./support/guests.ts";
import { runDeno } from "./support/cli.ts";

const CHILD = new URL("./support/rewrite_cache_child.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url).pathname;
const FINGERPRINT = new URL(
  "../src/cache/rewriter_fingerprint.ts",
  import.meta.url,
);

interface Child {
  code: number;
  stdout: string;
  stderr: string;
}

async function runChild(flags: string[], args: string[]): Promise<Child> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, CHILD.pathname, ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

function report(
  child: Child,
): { sha256: string; hits: number; misses: number } {
  assert.equal(child.code, 0, child.stderr);
  return JSON.parse(child.stdout.trim());
}

for (
  const [what, flags] of [
    ["write", (dir: string) => [`--allow-read=${ROOT},${dir}`]],
    ["read", (dir: string) => [`--allow-read=${ROOT}`, `--allow-write=${dir}`]],
    ["read and write", () => [`--allow-read=${ROOT}`]],
  ] as const
) {
  Deno.test(`without ${what} permission for the cache, the load fails with one line naming both flags`, async () => {
    await withDirectory(async (directory) => {
      for (const mode of ["meter", "guest"]) {
        const child = await runChild(flags(directory), [mode, directory]);
        assert.equal(child.code, 2, child.stderr);
        assert.equal(
          child.stderr,
          `GuestLoadError (permission): cannot use the rewrite cache in ${directory}: ${what} permission ${
            what.includes(" and ") ? "are" : "is"
          } missing; run again with --allow-read=${directory} --allow-write=${directory} (or leave out cache)\n`,
        );
      }
      // Nothing was written.
      assert.deepEqual([...Deno.readDirSync(directory)], []);
    });
  });
}

Deno.test("with read and write permission for the cache alone, a second process reads the first one's entry", async () => {
  await withDirectory(async (directory) => {
    const flags = [
      `--allow-read=${ROOT},${directory}`,
      `--allow-write=${directory}`,
    ];
    const first = report(await runChild(flags, ["meter", directory]));
    const second = report(await runChild(flags, ["meter", directory]));
    assert.deepEqual([first.hits, first.misses], [0, 1]);
    assert.deepEqual([second.hits, second.misses], [1, 0]);
    assert.equal(second.sha256, first.sha256);
    const guest = report(await runChild(flags, ["guest", directory]));
    assert.deepEqual([guest.hits, guest.misses], [0, 1]);
  });
});

Deno.test("processes writing the same entry at once all get the same rewrite, and leave one whole entry", async () => {
  await withDirectory(async (directory) => {
    const flags = [`--allow-read`, `--allow-write=${directory}`, "--allow-env"];
    const round = () =>
      Promise.all(
        Array.from(
          { length: 4 },
          () => runChild(flags, ["quickjs", directory]),
        ),
      );
    const first = (await round()).map(report);
    const second = (await round()).map(report);
    const hashes = new Set([...first, ...second].map((r) => r.sha256));
    assert.equal(hashes.size, 1);
    // Every process of the second round found the entry whole.
    for (const r of second) assert.deepEqual([r.hits, r.misses], [1, 0]);
    const names = [...Deno.readDirSync(directory)].map((e) => e.name);
    assert.equal(names.length, 1, names.join(", "));
    assert.match(names[0]!, /\.rewrite$/);
  });
});

Deno.test("an entry made by another rewriter is never read: its fingerprint is part of the key", async () => {
  await withDirectory(async (directory) => {
    const flags = [`--allow-read`, `--allow-write=${directory}`];
    const ours = report(await runChild(flags, ["meter", directory]));
    // The same early-exit, but with a rewriter whose fingerprint differs.
    const other = `${directory}/other_fingerprint.ts`;
    await Deno.writeTextFile(
      other,
      'export const REWRITER_FINGERPRINT = "sha256:another rewriter";\n',
    );
    const map = `${directory}/import_map.json`;
    await Deno.writeTextFile(
      map,
      JSON.stringify({ imports: { [FINGERPRINT.href]: `file://${other}` } }),
    );
    const theirs = report(
      await runChild(["--no-config", `--import-map=${map}`, ...flags], [
        "meter",
        directory,
      ]),
    );
    assert.deepEqual([theirs.hits, theirs.misses], [0, 1]);
    assert.equal(theirs.sha256, ours.sha256);
    const entries = [...Deno.readDirSync(directory)].filter((e) =>
      e.name.endsWith(".rewrite")
    );
    assert.equal(entries.length, 2);
  });
});

/**
 * Rewrites an entry's output, with a digest that matches (as a writer of
 * the directory could): the digest covers all that follows it.
 */
async function forgeEntry(
  path: string,
  forge: (output: Uint8Array) => Uint8Array,
): Promise<void> {
  const file = await Deno.readFile(path);
  const digestAt = file.indexOf(0x0a) + 1;
  const lengthAt = digestAt + 32;
  const metaLength = new DataView(file.buffer).getUint32(lengthAt, true);
  const outputAt = lengthAt + 4 + 32 + metaLength;
  const rest = new Uint8Array([
    ...file.slice(lengthAt, outputAt),
    ...forge(file.slice(outputAt)),
  ]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", rest));
  await Deno.writeFile(
    path,
    new Uint8Array([...file.slice(0, digestAt), ...digest, ...rest]),
  );
}

Deno.test("loadGuest: an entry whose digest holds but which the engine refuses is rewritten and replaced", async () => {
  await withDirectory(async (directory) => {
    const cache = new RewriteCache(directory);
    await loadGuest(COMPUTE, { fuel: 1e6, cache });
    const [name] = [...Deno.readDirSync(directory)].map((e) => e.name);
    const path = `${directory}/${name}`;
    const good = await Deno.readFile(path);
    // Cut the module short, digest and all: well formed as an entry.
    await forgeEntry(path, (output) => output.slice(0, output.length - 5));
    const healed = await loadGuest(COMPUTE, { fuel: 1e6, cache });
    assert.deepEqual([cache.hits, cache.misses, cache.rejected], [0, 2, 1]);
    assert.equal(healed.call("fib", 20), 6765);
    assert.deepEqual(await Deno.readFile(path), good);
    const guest = await loadGuest(COMPUTE, { fuel: 1e6, cache });
    assert.equal(cache.hits, 1);
    assert.equal(guest.call("fib", 20), 6765);
  });
});

Deno.test("a file of gigabytes in an entry's place is refused unread: by its header, or by its size", async () => {
  await withDirectory(async (directory) => {
    // A sparse file costs nothing to make; the child's peak memory shows
    // whether it was read (the process's own, so a child of its own; Linux
    // alone says it, and elsewhere the peak reads 0).
    const script = `
      import { loadGuest, RewriteCache } from "./mod.ts";
      const cache = new RewriteCache(${JSON.stringify(directory)});
      const load = () => loadGuest(${
      JSON.stringify(COMPUTE.pathname)
    }, { fuel: 1e6, cache });
      await load();
      const [{ name }] = [...Deno.readDirSync(cache.directory)];
      const path = cache.directory + "/" + name;
      const header = (await Deno.readFile(path)).subarray(0, 89);
      const answers = [];
      for (const keep of [new Uint8Array(0), header]) {
        using file = Deno.openSync(path, { write: true, truncate: true });
        file.writeSync(keep);
        file.truncateSync(2 ** 31 + 4096);
        answers.push((await load()).call("fib", 10));
      }
      const status = Deno.build.os === "linux" ? Deno.readTextFileSync("/proc/self/status") : "VmHWM: 0";
      const peak = /VmHWM:\\s+(\\d+)/.exec(status)[1];
      console.log(JSON.stringify({ answers, rejected: cache.rejected, peakMiB: Number(peak) / 1024 }));
    `;
    const run = await runDeno(["eval", script]);
    assert.equal(run.code, 0, run.stderr);
    const { answers, rejected, peakMiB } = JSON.parse(run.stdout);
    assert.deepEqual(answers, [55, 55]);
    assert.equal(rejected, 2);
    assert.ok(peakMiB < 1024, `the child peaked at ${peakMiB} MiB`);
  });
});
