/**
 * Runs every example of the JSDoc of `mod.ts`, `src/` and `tests/support/`,
 * and of the README and `docs/`, as `deno test --doc` does, but all in this
 * one test module.
 *
 * `deno test --doc` makes each example a module of its own and gives each
 * module a fresh runtime; that runtime costs more than almost every example
 * here, so the 144 examples took over a minute of CPU. Here each example is
 * still a module of its own (its code as written, its imports resolved from
 * its file), and is evaluated in a test of its own, named as
 * `deno test --doc` names it.
 *
 * The examples are type-checked by `deno test --doc --no-run`, as
 * `deno task test` does beside the tests; `deno test --doc src/ README.md`
 * still runs them the usual way.
 *
 * @module
 */

import assert from "./support/assert.ts";

const ROOT = new URL("../", import.meta.url);

/** The files and folders whose examples run here. */
const ROOTS = ["mod.ts", "src/", "tests/support/", "README.md", "docs/"];

/** The fence languages `deno test --doc` runs. */
const RUN_LANGUAGES = new Set([
  "js",
  "javascript",
  "mjs",
  "cjs",
  "jsx",
  "ts",
  "typescript",
  "mts",
  "cts",
  "tsx",
]);

/** One example: its name as `deno test --doc` gives it, and its code. */
interface Example {
  /** `path#first-last`, the fence's lines, counted from 1. */
  readonly name: string;
  /** The code between the fences, without the comment's `*`. */
  readonly code: string;
}

/**
 * The examples in one file: in a Markdown file, and in the JSDoc comments of
 * a source file, each fenced block in a language `deno test --doc` runs,
 * unless marked `ignore`.
 */
function examplesOf(path: string, source: string): Example[] {
  const lines = source.split("\n");
  const markdown = path.endsWith(".md");
  const found: Example[] = [];
  let inComment = markdown;
  let open: { line: number; run: boolean; code: string[] } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!inComment) {
      if (/^\s*\/\*\*/.test(line) && !/\*\/\s*$/.test(line)) inComment = true;
      continue;
    }
    if (!markdown && /\*\/\s*$/.test(line)) {
      inComment = false;
      open = undefined;
      continue;
    }
    const text = markdown ? line : line.replace(/^\s*\* ?/, "");
    const fence = text.match(/^```\s*(\S*)(.*)$/);
    if (open === undefined) {
      if (fence) {
        const language = fence[1]!.toLowerCase();
        const attributes = fence[2]!.trim().split(/\s+/);
        open = {
          line: i + 1,
          run: RUN_LANGUAGES.has(language) && !attributes.includes("ignore"),
          code: [],
        };
      }
    } else if (fence && fence[1] === "" && fence[2]!.trim() === "") {
      if (open.run) {
        found.push({
          name: `${path}#${open.line}-${i + 2}`,
          code: open.code.join("\n"),
        });
      }
      open = undefined;
    } else {
      open.code.push(text);
    }
  }
  return found;
}

/**
 * The example as a module of its own: relative imports and `import.meta.url`
 * resolved from `file`, as they are from the module `deno test --doc` makes
 * beside it.
 */
function moduleOf(example: Example, file: URL): string {
  const url = JSON.stringify(file.href);
  const code = example.code
    .replace(
      /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']*)\2/g,
      (_, before: string, _quote: string, specifier: string) =>
        `${before}${JSON.stringify(new URL(specifier, file).href)}`,
    )
    .replaceAll("import.meta.url", url);
  // import.meta.resolve of a specifier that names its package resolves
  // alike from any module.
  const rest = code.replace(/\bimport\.meta\.resolve\(\s*(["'])[^."']/g, "");
  if (/\bimport\.meta\b/.test(rest)) {
    throw new Error(
      `${example.name}: an example may use import.meta only as import.meta.url, ` +
        `or import.meta.resolve of an npm:, node: or bare specifier; here it ` +
        `is run from a data: URL, where nothing else of it holds`,
    );
  }
  return code;
}

async function sourceFiles(path: string): Promise<string[]> {
  const info = await Deno.stat(new URL(path, ROOT));
  if (info.isFile) return [path];
  const found: string[] = [];
  for await (const entry of Deno.readDir(new URL(path, ROOT))) {
    const child = `${path}${entry.name}`;
    if (entry.isDirectory) found.push(...await sourceFiles(`${child}/`));
    else if (entry.isFile && /\.([cm]?[jt]sx?|md)$/.test(entry.name)) {
      found.push(child);
    }
  }
  return found.sort();
}

const files = (await Promise.all(ROOTS.map(sourceFiles))).flat();
const examples: { example: Example; file: URL }[] = [];
for (const path of files) {
  const file = new URL(path, ROOT);
  const source = await Deno.readTextFile(file);
  for (const example of examplesOf(path, source)) {
    examples.push({ example, file });
  }
}

Deno.test("the examples are found as deno test --doc finds them", () => {
  const source = [
    "/**",
    " * @example Usage",
    " * ```ts",
    ' * import { a } from "./a.ts";',
    " * a();",
    " * ```",
    " *",
    " * ```ts ignore",
    " * never();",
    " * ```",
    " * ```text",
    " * not code",
    " * ```",
    " */",
    "// ```ts",
    "// not JSDoc",
    "// ```",
  ].join("\n");
  const found = examplesOf("src/x.ts", source);
  assert.deepEqual(found, [{
    name: "src/x.ts#3-7",
    code: 'import { a } from "./a.ts";\na();',
  }]);
  const markdown = [
    "# Title",
    "```ts",
    "run();",
    "```",
    "```sh",
    "deno task test",
    "```",
    "```ts ignore",
    "never();",
    "```",
  ].join("\n");
  assert.deepEqual(examplesOf("docs/x.md", markdown), [
    { name: "docs/x.md#2-5", code: "run();" },
  ]);
  const file = new URL("file:///project/src/x.ts");
  assert.equal(
    moduleOf(found[0]!, file),
    'import { a } from "file:///project/src/a.ts";\na();',
  );
  assert.equal(
    moduleOf(
      { name: "n", code: 'new URL("../g.wasm", import.meta.url);' },
      file,
    ),
    'new URL("../g.wasm", "file:///project/src/x.ts");',
  );
  assert.throws(
    () => moduleOf({ name: "n", code: "import.meta.main;" }, file),
    /only as import\.meta\.url/,
  );
  assert.throws(
    () => moduleOf({ name: "n", code: 'import.meta.resolve("./a.ts");' }, file),
    /only as import\.meta\.url/,
  );
  assert.equal(
    moduleOf({ name: "n", code: 'import.meta.resolve("npm:a@1");' }, file),
    'import.meta.resolve("npm:a@1");',
  );
  // Every public module has examples, so finding few means a broken search.
  assert.ok(examples.length > 100, `only ${examples.length} examples found`);
  assert.ok(
    examples.some(({ example }) => example.name.startsWith("README.md#")),
    "no example found in README.md",
  );
});

for (const { example, file } of examples) {
  Deno.test(example.name, async () => {
    // The name keeps two examples of the same code two modules.
    const code = `${moduleOf(example, file)}\n// ${example.name}\n`;
    const bytes = new TextEncoder().encode(code);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    await import(`data:application/typescript;base64,${btoa(binary)}`);
  });
}
