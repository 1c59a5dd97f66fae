/**
 * Every relative link in the README and the pages in docs/ points to a file
 * that exists and, when it names a heading, to a heading that exists: a page
 * split or a heading renamed would otherwise leave readers at a dead end.
 * Links are counted, not fetched; web links are left alone.
 */

import assert from "./support/assert.ts";

const ROOT = new URL("../", import.meta.url);

/** The README and every Markdown page in docs/, as paths from the root. */
async function pages(): Promise<string[]> {
  const files = ["README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`docs/${entry.name}`);
    }
  }
  return files.sort();
}

/** A page's lines outside fenced code blocks, with inline code taken out. */
function prose(text: string): string[] {
  const kept: string[] = [];
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) kept.push(line.replace(/`[^`]*`/g, ""));
  }
  return kept;
}

/**
 * The anchors a page's headings get, as GitHub makes them: the heading's
 * text without its Markdown, lower-cased, with everything but letters,
 * digits, spaces, hyphens and underscores dropped, spaces made hyphens, and
 * `-1`, `-2`, … after a repeat.
 */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const slug = heading[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return found;
}

Deno.test("anchors are made as GitHub makes them", () => {
  const made = anchors(
    "# Performance\n## `sum_to` rose (2–3 December)\n## A, b\n## A, b\n```\n# not\n```",
  );
  assert.deepEqual(
    [...made],
    ["performance", "sum_to-rose-23-december", "a-b", "a-b-1"],
  );
});

Deno.test("every relative link in the README and docs/ resolves, heading included", async () => {
  const texts = new Map<string, string>();
  const read = async (path: string) => {
    if (!texts.has(path)) {
      texts.set(path, await Deno.readTextFile(new URL(path, ROOT)));
    }
    return texts.get(path)!;
  };
  const broken: string[] = [];
  let files = 0;
  let headings = 0;
  for (const page of await pages()) {
    const lines = prose(await read(page));
    for (const [index, line] of lines.entries()) {
      for (const [, target] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // a web link
        const where = `${page}:${index + 1} (${target})`;
        const [file, heading] = target.split("#", 2);
        const path = file === ""
          ? page
          : new URL(file, new URL(page, ROOT)).pathname.slice(
            ROOT.pathname.length,
          );
        const exists = await Deno.stat(new URL(path, ROOT)).then(
          () => true,
          () => false,
        );
        if (!exists) {
          broken.push(`${where}: no file ${path}`);
          continue;
        }
        files++;
        if (heading === undefined) continue;
        headings++;
        if (!path.endsWith(".md")) continue;
        if (!anchors(await read(path)).has(heading)) {
          broken.push(`${where}: no heading #${heading} in ${path}`);
        }
      }
    }
  }
  assert.deepEqual(broken, [], broken.join("\n"));
  // The pages link to each other and into their sections; far fewer links
  // than this means the pattern stopped matching them.
  assert.ok(files >= 100, `only ${files} relative links found`);
  assert.ok(headings >= 60, `only ${headings} links to headings found`);
});

Deno.test("no page of the README and docs/ repeats a heading or holds a table mangled into one", async () => {
  // A merge that keeps both sides of a section leaves its heading twice, and a
  // table cut from its blank line is reflowed by the formatter into a heading
  // of pipes: both read as a page written twice.
  const found: string[] = [];
  for (const page of await pages()) {
    const seen = new Set<string>();
    let fenced = false;
    for (
      const line of (await Deno.readTextFile(new URL(page, ROOT))).split("\n")
    ) {
      if (/^\s*```/.test(line)) fenced = !fenced;
      if (fenced || !/^#{1,6}\s/.test(line)) continue;
      if (/^#{1,6}\s+\|/.test(line)) {
        found.push(`${page}: "${line}" is a table`);
      }
      if (seen.has(line)) found.push(`${page}: "${line}" twice`);
      seen.add(line);
    }
  }
  assert.deepEqual(found, [], found.join("\n"));
});
