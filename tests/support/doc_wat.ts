/**
 * The module a source file's documentation writes out as text: a
 * ```` ```wat ```` block of its JSDoc, assembled. For the warm-ups, whose
 * guests are bytes in the source and text in its documentation, which must
 * not drift apart.
 *
 * @module
 */

/**
 * Assembles a `wat` block in the JSDoc of the file at `url`.
 *
 * @param url The source file.
 * @param block Which block, from 0.
 * @param features The assembler's features the text needs.
 * @returns The module's bytes.
 */
export async function docWatBytes(
  url: URL,
  block = 0,
  features: Record<string, boolean> = {},
): Promise<number[]> {
  const text = await Deno.readTextFile(url);
  let start = -1;
  for (let i = 0; i <= block; i++) {
    start = text.indexOf("```wat\n", start + 1);
  }
  const wat = text.slice(start + 7, text.indexOf("```\n */", start))
    .replaceAll(/^ \* ?/gm, "");
  const wabt = await (await import("wabt")).default();
  const module = wabt.parseWat(url.pathname, wat, features);
  try {
    return [...module.toBinary({}).buffer];
  } finally {
    module.destroy();
  }
}
