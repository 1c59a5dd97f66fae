/**
 * The README and the pages in docs/ show only code that runs.
 *
 * `deno task test` runs every code block fenced as `ts` in them as a test of
 * its own (the task passes README.md and docs/ to `deno test --doc`, which
 * type-checks and runs each block from the root of the checkout). This test
 * makes sure no block slips past that: every block is either `ts`, run as it
 * stands, or fenced as a shell command, output or text that is not code to
 * run.
 */

import assert from "./support/assert.ts";

const ROOT = new URL("../", import.meta.url);
/** Fences for what is not run: shell commands, output, and WebAssembly text. */
const NOT_RUN = new Set(["sh", "text", "wat"]);
const README_LIMIT = 25 * 1024;

interface Block {
  file: string;
  line: number;
  info: string;
}

async function pages(): Promise<string[]> {
  const files = ["README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`docs/${entry.name}`);
    }
  }
  return files.sort();
}

async function blocks(file: string): Promise<Block[]> {
  const lines = (await Deno.readTextFile(new URL(file, ROOT))).split("\n");
  const found: Block[] = [];
  let open = false;
  lines.forEach((text, index) => {
    const fence = /^```(.*)$/.exec(text);
    if (fence === null) return;
    if (!open) found.push({ file, line: index + 1, info: fence[1].trim() });
    open = !open;
  });
  assert.equal(open, false, `${file} has an unclosed code block`);
  return found;
}

Deno.test("every code block in the README and docs/ is run, or fenced as not code to run", async () => {
  let run = 0;
  for (const file of await pages()) {
    for (const block of await blocks(file)) {
      const where = `${block.file}:${block.line}`;
      if (block.info === "ts") {
        run++;
        continue;
      }
      assert.ok(
        NOT_RUN.has(block.info),
        `${where}: a block fenced "${block.info}" would not run; fence code as ts, commands as sh, output as text`,
      );
    }
  }
  assert.ok(run >= 8, `only ${run} ts blocks found`);
});

Deno.test("the test task runs the README's and docs/'s blocks", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  const task: string = config.tasks.test;
  if (!task.includes("tests/suite.ts")) {
    for (const word of ["--doc", "README.md", "docs/"]) {
      assert.ok(task.split(/\s+/).includes(word), `${word} is not in ${task}`);
    }
    return;
  }
  // The suite runs every test file, and tests/examples_test.ts runs the
  // examples of the files and folders it names.
  const runner = await Deno.readTextFile(new URL("tests/suite.ts", ROOT));
  assert.ok(runner.includes('name.endsWith("_test.ts")'));
  const examples = await Deno.readTextFile(
    new URL("tests/examples_test.ts", ROOT),
  );
  const roots = examples.match(/^const ROOTS = \[(.*)\];$/m)?.[1] ?? "";
  for (const word of ["README.md", "docs/"]) {
    assert.ok(
      roots.includes(`"${word}"`),
      `${word} is not among tests/examples_test.ts's ROOTS`,
    );
  }
});

Deno.test("the README stays a user's page: under 25 KB, its links resolve", async () => {
  const text = await Deno.readTextFile(new URL("README.md", ROOT));
  const size = new TextEncoder().encode(text).length;
  assert.ok(size <= README_LIMIT, `README.md is ${size} bytes`);
  for (const [, target] of text.matchAll(/\]\(([^)#]+)\)/g)) {
    if (/^[a-z]+:/.test(target)) continue;
    await Deno.stat(new URL(target, ROOT)); // throws when missing
  }
});

Deno.test("the README states the version that deno.json publishes", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  assert.ok(readme.includes(`\`${config.name}\``), config.name);
  assert.ok(readme.includes(`version ${config.version}`), config.version);
  assert.equal(config.exports["./instrument"], "./src/wasm/mod.ts");
  const changelog = await Deno.readTextFile(new URL("CHANGELOG.md", ROOT));
  assert.match(changelog, new RegExp(`## \\[${config.version}\\]`));
});

/** The body of `export interface NAME {` … `}` in a source file. */
async function interfaceBody(file: string, name: string): Promise<string> {
  const text = await Deno.readTextFile(new URL(file, ROOT));
  const start = text.indexOf(`export interface ${name} `);
  assert.ok(start >= 0, `${file} has no interface ${name}`);
  return text.slice(start, text.indexOf("\n}\n", start));
}

/** The option names an interface declares, in order. */
async function optionNames(file: string, name: string): Promise<string[]> {
  const body = await interfaceBody(file, name);
  return [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??:/gm)].map((m) => m[1]);
}

/** The backquoted names in the README's sentence that starts with `lead`. */
function listed(readme: string, lead: string, end: string): string[] {
  const start = readme.indexOf(lead);
  assert.ok(start >= 0, `README.md has no "${lead}"`);
  const text = readme.slice(start + lead.length, readme.indexOf(end, start));
  return [...text.matchAll(/`(\w+)`/g)].map((m) => m[1]);
}

Deno.test("the README lists every option of loadGuest and runWasi, and every error", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  assert.deepEqual(
    listed(readme, "`loadGuest`'s options:", ". `runWasi`'s").sort(),
    (await optionNames("src/load/guest_options.ts", "GuestOptions")).sort(),
  );
  assert.deepEqual(
    listed(readme, "`runWasi`'s:", ". The errors").sort(),
    (await optionNames("src/wasi/wasi.ts", "WasiOptions")).sort(),
  );
  const kinds = await Deno.readTextFile(
    new URL("src/early_exit_error.ts", ROOT),
  );
  const union = kinds.slice(kinds.indexOf("export type EarlyExitErrorKind"));
  const declared = [
    ...union.slice(0, union.indexOf(";")).matchAll(/"(\w+)"/g),
  ].map((m) => m[1]);
  assert.deepEqual(
    listed(readme, "The errors:", ".").sort(),
    declared.sort(),
  );
});

Deno.test("development.md's tables name every source file, and only those", async () => {
  const page = await Deno.readTextFile(new URL("docs/development.md", ROOT));
  const start = page.indexOf("## Where the code is");
  const split = page.indexOf("The rewriter, `src/wasm/`", start);
  const end = page.indexOf("\n## ", split);
  assert.ok(start >= 0 && split > start && end > split);
  const named = (text: string) =>
    new Set([...text.matchAll(/`([\w/]+\.ts)`/g)].map((m) => m[1]));
  const files = async (dir: string) => {
    const found: string[] = [];
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      if (entry.isFile && entry.name.endsWith(".ts")) found.push(entry.name);
    }
    return found.sort();
  };
  // The runner's files, by their path inside src/, each folder but the
  // rewriter's (a concept of the runner's each) looked in.
  const runnerFiles: string[] = [];
  for await (const entry of Deno.readDir(new URL("src/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".ts")) {
      runnerFiles.push(entry.name);
    } else if (entry.isDirectory && entry.name !== "wasm") {
      for (const file of await files(`src/${entry.name}/`)) {
        runnerFiles.push(`${entry.name}/${file}`);
      }
    }
  }
  const runner = named(page.slice(start, split));
  const rewriter = named(page.slice(split, end));
  const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);
  for (const file of runnerFiles) {
    assert.ok(
      runner.has(baseName(file)) || runner.has(`src/${file}`),
      `docs/development.md does not name src/${file}`,
    );
  }
  for (const file of await files("src/wasm/")) {
    assert.ok(
      rewriter.has(file),
      `docs/development.md does not name src/wasm/${file}`,
    );
  }
  const runnerNames = new Set(runnerFiles.map(baseName));
  for (const name of runner) {
    // The entry points, `mod.ts` and `main.ts`, are at the root; a bare
    // name is a file of one of src/'s folders.
    if (name.includes("/") || ["mod.ts", "main.ts"].includes(name)) {
      await Deno.stat(new URL(name, ROOT)); // throws for a stale name
    } else {
      assert.ok(
        runnerNames.has(name),
        `docs/development.md names ${name}, which src/ has not`,
      );
    }
  }
  for (const name of rewriter) {
    await Deno.stat(new URL(`src/wasm/${name}`, ROOT));
  }
});

Deno.test("development.md's test support list names every file in tests/support/", async () => {
  const page = await Deno.readTextFile(new URL("docs/development.md", ROOT));
  const start = page.indexOf("## Test support");
  const end = page.indexOf("\n## ", start);
  assert.ok(start >= 0 && end > start);
  const named = new Set(
    [...page.slice(start, end).matchAll(/`([\w/]+\.ts)`/g)].map((m) => m[1]),
  );
  for await (const entry of Deno.readDir(new URL("tests/support/", ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    assert.ok(
      named.has(entry.name),
      `docs/development.md does not name tests/support/${entry.name}`,
    );
  }
  for (const name of named) {
    // A name is a support file, one of a folder it names, or a path from
    // the root (`tests/suite.ts`, `main.ts`).
    const places = [
      `tests/support/${name}`,
      name,
      `tests/support/fuzz/${name}`,
    ];
    const found = await Promise.all(
      places.map((path) =>
        Deno.stat(new URL(path, ROOT)).then(() => true, () => false)
      ),
    );
    assert.ok(
      found.includes(true),
      `docs/development.md names ${name}, which is gone`,
    );
  }
});

Deno.test("development.md's benchmark table names every file in bench/, and only those", async () => {
  const page = await Deno.readTextFile(new URL("docs/development.md", ROOT));
  const start = page.indexOf("## Benchmarks");
  const end = page.indexOf("\n## ", start);
  assert.ok(start >= 0 && end > start, "docs/development.md has no Benchmarks");
  const named = new Set(
    [...page.slice(start, end).matchAll(/`([\w/]+\.ts)`/g)].map((m) => m[1]),
  );
  for await (const entry of Deno.readDir(new URL("bench/", ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    assert.ok(
      named.has(entry.name),
      `docs/development.md does not name bench/${entry.name}`,
    );
  }
  for (const name of named) {
    await Deno.stat(new URL(`bench/${name}`, ROOT)); // throws for a stale name
  }
});

Deno.test("rewriter.md's file table names every file in src/wasm/", async () => {
  const page = await Deno.readTextFile(new URL("docs/rewriter.md", ROOT));
  const table = page.slice(0, page.indexOf("\n## "));
  const named = new Set(
    [...table.matchAll(/`([\w/]+\.ts)`/g)].map((m) => m[1]),
  );
  for await (const entry of Deno.readDir(new URL("src/wasm/", ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    assert.ok(
      named.has(entry.name),
      `docs/rewriter.md's file table does not name src/wasm/${entry.name}`,
    );
  }
  for (const name of named) {
    await Deno.stat(new URL(`src/wasm/${name}`, ROOT)); // throws for a stale name
  }
});
