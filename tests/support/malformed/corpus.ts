/**
 * The malformed-input corpus: the WAT modules of `wat_sources.ts`, a few
 * translate-to-fuzz modules, and the wasm that the `hash-wasm` package
 * embeds. Built once per process, in a fixed order, so that a mutation's
 * number always names the same input.
 *
 * @module
 */

import { assembleWat } from "../../../guest/build.ts";
import { findNpmFile } from "../../../bench/npm.ts";
import { FuzzModuleMaker } from "../fuzz/mod.ts";
import { BINARYEN_WAT_SOURCES, WAT_SOURCES } from "./wat_sources.ts";

/** A named module. */
export interface CorpusEntry {
  name: string;
  bytes: Uint8Array;
}

/** The WAT modules, assembled (with a name section) and validated. */
async function watCorpus(): Promise<CorpusEntry[]> {
  const entries: CorpusEntry[] = [];
  for (const [name, source] of Object.entries(WAT_SOURCES)) {
    const bytes = await assembleWat(source, `${name}.wat`);
    entries.push({ name: `wat-${name}`, bytes });
  }
  const binaryen = (await import("binaryen")).default;
  for (const [name, source] of Object.entries(BINARYEN_WAT_SOURCES)) {
    const module = binaryen.parseText(source);
    try {
      module.setFeatures(binaryen.Features.All);
      if (!module.validate()) throw new Error(`${name}.wat does not validate`);
      entries.push({ name: `wat-${name}`, bytes: module.emitBinary() });
    } finally {
      module.dispose();
    }
  }
  return entries;
}

/** The modules `hash-wasm` embeds as base64 in its ES module build. */
async function hashWasmCorpus(): Promise<CorpusEntry[]> {
  const path = await findNpmFile("hash-wasm", "dist/index.esm.js");
  if (path === undefined) {
    throw new Error(
      "cannot find hash-wasm's dist/index.esm.js through deno info --json",
    );
  }
  const source = await Deno.readTextFile(path);
  const entries: CorpusEntry[] = [];
  // "AGFzbQ" is the base64 of the magic "\0asm".
  for (const match of source.matchAll(/"(AGFzbQ[A-Za-z0-9+/=]+)"/g)) {
    const binary = atob(match[1]);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    entries.push({ name: `hash-wasm-${entries.length}`, bytes });
  }
  return entries;
}

/** A few translate-to-fuzz modules, one per profile at least. */
async function fuzzCorpus(): Promise<CorpusEntry[]> {
  const maker = await FuzzModuleMaker.create();
  try {
    const entries: CorpusEntry[] = [];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { profile, bytes } = await maker.make(seed);
      entries.push({ name: `fuzz-${seed}-${profile}`, bytes });
    }
    return entries;
  } finally {
    await maker.close();
  }
}

let corpusBuilt: Promise<CorpusEntry[]> | undefined;

/** The whole corpus, in a fixed order (built once per process). */
export function buildCorpus(): Promise<CorpusEntry[]> {
  corpusBuilt ??= (async () => [
    ...await watCorpus(),
    ...await fuzzCorpus(),
    ...await hashWasmCorpus(),
  ])();
  return corpusBuilt;
}

/** Writes the corpus to `dir`, one file a module, for a child to read back. */
export async function writeCorpus(
  dir: string,
  corpus: readonly CorpusEntry[],
): Promise<void> {
  await Promise.all(corpus.map((entry, i) =>
    Deno.writeFile(
      `${dir}/${String(i).padStart(3, "0")}-${
        entry.name.replace(/[^\w-]/g, "_")
      }.wasm`,
      entry.bytes,
    )
  ));
}

/** The corpus {@link writeCorpus} wrote to `dir`, in the same order. */
export async function readCorpus(dir: string): Promise<CorpusEntry[]> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  return await Promise.all(names.map(async (file) => ({
    name: file.replace(/^\d+-/, "").replace(/\.wasm$/, ""),
    bytes: await Deno.readFile(`${dir}/${file}`),
  })));
}
