/**
 * Random valid modules from translate-to-fuzz (`wasm-opt -ttf`), one
 * feature profile per seed.
 *
 * @module
 */

import { seededRandom } from "./random.ts";
import { WasmOpt } from "./wasm_opt.ts";

/**
 * `wasm-opt` feature flags for the proposals V8 in Deno 2.9.6 runs by
 * default. `--emit-exnref` is needed because translate-to-fuzz mixes legacy
 * `try` with `try_table`, and V8 rejects a module that uses both.
 */
export const PROFILES: Readonly<Record<string, readonly string[]>> = {
  /** Everything V8 accepts, GC and exceptions included. */
  all: [
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-call-indirect-overlong",
    "--enable-multivalue",
    "--enable-reference-types",
    "--enable-simd",
    "--enable-relaxed-simd",
    "--enable-threads",
    "--enable-tail-call",
    "--enable-exception-handling",
    "--enable-gc",
    "--enable-memory64",
    "--enable-multimemory",
    "--enable-extended-const",
    "--emit-exnref",
  ],
  /** Numbers, memory and tables: more straight-line arithmetic per module. */
  numeric: [
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-multivalue",
    "--enable-simd",
    "--enable-threads",
    "--enable-tail-call",
    "--enable-memory64",
    "--enable-multimemory",
    "--enable-extended-const",
  ],
  /** The 1.0 instruction set only. */
  mvp: ["--mvp-features"],
};

/** The profile a seed uses: mostly `all`, some of the others. */
export function profileOf(seed: number): string {
  const pick = seed % 5;
  return pick === 3 ? "numeric" : pick === 4 ? "mvp" : "all";
}

/** A module made by translate-to-fuzz, and how. */
export interface FuzzModule {
  seed: number;
  profile: string;
  bytes: Uint8Array;
}

/** Modules already made, by seed and profile (see {@linkcode FuzzModuleMaker.create}). */
export type FuzzModuleCache = Map<string, FuzzModule>;

/** The `wasm-opt` every maker of this process runs. */
let sharedWasmOpt: Promise<WasmOpt> | undefined;

/**
 * Makes random valid modules from seeds: the seed drives a
 * {@linkcode seededRandom} stream that becomes `-ttf`'s input bytes.
 */
export class FuzzModuleMaker {
  readonly #wasmOpt: WasmOpt;
  readonly #dir: string;
  readonly #kept: FuzzModuleCache | undefined;
  #count = 0;

  private constructor(
    wasmOpt: WasmOpt,
    dir: string,
    kept: FuzzModuleCache | undefined,
  ) {
    this.#wasmOpt = wasmOpt;
    this.#dir = dir;
    this.#kept = kept;
  }

  /**
   * Loads `wasm-opt` (once a process: the makers share it, its compiled
   * code, its lookup of the package and the instance its commands run in)
   * and makes a scratch directory.
   *
   * @param kept Where to keep the modules made, and find them again: runs
   * over the same seeds then make each module once. Leave it out to make
   * every module afresh (as the test that the bytes depend only on the seed
   * must).
   */
  static async create(kept?: FuzzModuleCache): Promise<FuzzModuleMaker> {
    const wasmOpt = await (sharedWasmOpt ??= WasmOpt.load());
    const dir = await Deno.makeTempDir({ prefix: "early-exit-fuzz-" });
    return new FuzzModuleMaker(wasmOpt, dir, kept);
  }

  /** The module for `seed` (same seed, same bytes). */
  async make(seed: number, profile = profileOf(seed)): Promise<FuzzModule> {
    const flags = PROFILES[profile];
    if (!flags) throw new Error(`no fuzz profile named ${profile}`);
    const key = `${seed} ${profile}`;
    const found = this.#kept?.get(key);
    if (found !== undefined) return { ...found, bytes: found.bytes.slice() };
    const made = await this.#make(seed, profile, flags);
    this.#kept?.set(key, { ...made, bytes: made.bytes.slice() });
    return made;
  }

  /**
   * The module for `seed` made in a `wasm-opt` instance of its own, not the
   * one every command shares (nor taken from the kept modules): what the
   * shared one must give too.
   */
  makeFresh(seed: number, profile = profileOf(seed)): Promise<FuzzModule> {
    const flags = PROFILES[profile];
    if (!flags) throw new Error(`no fuzz profile named ${profile}`);
    return this.#make(seed, profile, flags, true);
  }

  async #make(
    seed: number,
    profile: string,
    flags: readonly string[],
    fresh = false,
  ): Promise<FuzzModule> {
    const next = seededRandom(seed);
    // Input size drives module size: 1–12 KiB.
    const input = new Uint8Array(1024 + (next() % 11264));
    for (let i = 0; i < input.length; i += 4) {
      const word = next();
      for (let j = 0; j < 4 && i + j < input.length; j++) {
        input[i + j] = word >>> (8 * j);
      }
    }
    const n = this.#count++;
    const inPath = `${this.#dir}/in-${n}.dat`;
    const outPath = `${this.#dir}/out-${n}.wasm`;
    await Deno.writeFile(inPath, input);
    try {
      const result = await this.#wasmOpt.run([
        inPath,
        "-ttf",
        "-o",
        outPath,
        ...flags,
      ], fresh);
      if (result.status !== 0) {
        throw new Error(
          `wasm-opt -ttf failed for seed ${seed} (${profile}): ${result.output}`,
        );
      }
      return { seed, profile, bytes: await Deno.readFile(outPath) };
    } finally {
      await Deno.remove(inPath).catch(() => {});
      await Deno.remove(outPath).catch(() => {});
    }
  }

  /** Removes the scratch directory. */
  async close(): Promise<void> {
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
