/**
 * Computes the rewriter's fingerprint: the SHA-256 of every local module
 * `src/wasm/instrument.ts` imports, itself included, by path. The rewrite
 * cache keys its entries on it (`src/cache/rewriter_fingerprint.ts`), so that a
 * changed rewriter never reads an entry an older one made; the test that
 * imports this fails until that constant is brought up to date.
 *
 * Run it to print the value: `deno run -A tests/support/rewriter_fingerprint.ts`.
 */

import { sha256Hex } from "./sha256.ts";

const ROOT = new URL("../../", import.meta.url);
const ENTRY = new URL("src/wasm/instrument.ts", ROOT);

/** The local files of the rewriter's module graph, relative to the root. */
export async function rewriterFiles(): Promise<string[]> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", ENTRY.href],
    env: { NO_COLOR: "1" },
  }).output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
  const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { specifier: string }[];
  };
  const files = graph.modules.map(({ specifier }) => specifier);
  for (const file of files) {
    if (!file.startsWith(ROOT.href)) {
      throw new Error(`the rewriter imports ${file}, outside the repository`);
    }
  }
  return files.map((file) => file.slice(ROOT.href.length)).sort();
}

/** The fingerprint of the rewriter as it is in the working tree. */
export async function rewriterFingerprint(): Promise<string> {
  const parts: string[] = [];
  for (const file of await rewriterFiles()) {
    // Line endings as a checkout may rewrite them do not count.
    const text = (await Deno.readTextFile(new URL(file, ROOT)))
      .replaceAll("\r\n", "\n");
    parts.push(`${file}\0${text}\0`);
  }
  const hex = await sha256Hex(new TextEncoder().encode(parts.join("")));
  return `sha256:${hex}`;
}

if (import.meta.main) console.log(await rewriterFingerprint());
