/** The README's recipes run as they stand. */

import assert from "./support/assert.ts";

const README = new URL("../README.md", import.meta.url);
const MOD = new URL("../mod.ts", import.meta.url);

/** The code block after `<!-- recipe: name -->`. */
async function recipe(name: string): Promise<string> {
  const text = await Deno.readTextFile(README);
  const marker = text.indexOf(`<!-- recipe: ${name} -->`);
  assert.ok(marker >= 0, `the README has the ${name} recipe`);
  const start = text.indexOf("```ts\n", marker) + "```ts\n".length;
  return text.slice(start, text.indexOf("```\n", start));
}

/** Runs a recipe as a module of its own, with `./mod.ts` pointing at this copy. */
async function runRecipe(name: string): Promise<void> {
  const code = (await recipe(name)).replace('"./mod.ts"', `"${MOD.href}"`);
  const dir = await Deno.makeTempDir();
  const file = `${dir}/${name}.js`;
  await Deno.writeTextFile(file, code);
  try {
    await import(`file://${file}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("README recipe: QuickJS stopped by a deadline, then used and disposed", async () => {
  await runRecipe("quickjs");
});

Deno.test("README recipe: sql.js stopped by a deadline, then VACUUM and a query", async () => {
  await runRecipe("sqlite");
});
