/**
 * The module a source file's documentation writes out as text: the first
 * ```` ```wat ```` block of its JSDoc, assembled. For the warm-ups, whose
 * guests are bytes in the source and text in its documentation, which must
 * not drift apart.
 *
 * @module
 */

/**
 * Assembles the first `wat` block in the JSDoc of the file at `url`.
 *
 * @param url The source file.
 * @returns The module's bytes.
 */
export async function docWatBytes(url: URL): Promise<number[]> {
  const text = await Deno.readTextFile(url);
  const wat = text.slice(text.indexOf("```wat\n") + 7, text.indexOf("```\n */"))
    .replaceAll(/^ \* ?/gm, "");
  const wabt = await (await import("wabt")).default();
  const module = wabt.parseWat(url.pathname, wat, {});
  try {
    return [...module.toBinary({}).buffer];
  } finally {
    module.destroy();
  }
}
