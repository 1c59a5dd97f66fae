/**
 * Module text to bytes: wabt, with binaryen as a fallback for text wabt
 * cannot read, and a compile that says why a module is skipped.
 *
 * @module
 */

import { WABT_ALL_FEATURES } from "../../../guest/build.ts";
import type { ModuleDef } from "../wast/mod.ts";

type Wabt = Awaited<ReturnType<typeof import("wabt")>>;
type Binaryen = typeof import("binaryen").default;

/**
 * Binaryen features V8 does not ship (or ships behind flags), by name. Read
 * off the runtime object: the typings' bit values lag the library's, and
 * custom descriptors (bit 21) has no name at all.
 */
const binaryenFeaturesV8Lacks = [
  "Strings",
  "StackSwitching",
  "SharedEverything",
  "FP16",
  "CompactImports",
  "WideArithmetic",
  "RelaxedAtomics",
  "CustomPageSizes",
  "AcquireReleaseAtomics",
];
const BINARYEN_CUSTOM_DESCRIPTORS = 1 << 21;

/** Why something was not run: `reason` groups the summary, `detail` says more. */
export interface Skip {
  reason: string;
  detail: string;
}

type Assembled =
  | { bytes: Uint8Array; module: WebAssembly.Module; via: string }
  | { skip: Skip };

export function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as { message: unknown }).message);
  }
  return String(error);
}

export function firstLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim() !== "") ?? text;
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/**
 * Turns script modules into bytes V8 accepts. Text goes through wabt; when
 * wabt cannot read it (wabt lags on GC) or writes bytes V8 refuses (wabt
 * mis-encodes some multi-memory data segments), binaryen gets a second try.
 */
export class Assembler {
  readonly #wabt: Wabt;
  #binaryen: Binaryen | undefined;
  private constructor(wabt: Wabt) {
    this.#wabt = wabt;
  }

  /**
   * Loads wabt; binaryen is loaded on first need.
   *
   * @returns A ready assembler.
   */
  static async create(): Promise<Assembler> {
    const wabt = await (await import("wabt")).default();
    return new Assembler(wabt);
  }

  /**
   * Wat text to bytes with wabt, or throws wabt's error.
   *
   * @param text A whole `(module ...)`.
   * @returns The binary module.
   */
  wat2wasm(text: string): Uint8Array {
    const module = this.#wabt.parseWat("spec.wat", text, WABT_ALL_FEATURES);
    try {
      return module.toBinary({}).buffer;
    } finally {
      module.destroy();
    }
  }

  async #binaryenWat2wasm(text: string): Promise<Uint8Array> {
    this.#binaryen ??= (await import("binaryen")).default;
    const binaryen = this.#binaryen;
    // Keep binaryen to what V8 ships: by default it writes compact imports
    // and exact reference types, which V8 refuses. Features go in at parse
    // time (a parameter its typings omit): GC type checks happen there.
    const features = binaryen.Features as unknown as Record<string, number>;
    const lacking = binaryenFeaturesV8Lacks.reduce(
      (mask, name) => mask | (features[name] ?? 0),
      BINARYEN_CUSTOM_DESCRIPTORS,
    );
    const parseText = binaryen.parseText as unknown as (
      text: string,
      features: number,
    ) => ReturnType<typeof binaryen.parseText>;
    const module = parseText(asciiOnly(text), features.All & ~lacking);
    try {
      return module.emitBinary();
    } finally {
      module.dispose();
    }
  }

  /**
   * Bytes for a script module, compiled once by V8 to prove it is accepted.
   *
   * @param def The module as written in the script.
   * @returns The bytes and compiled module, or why there are none.
   */
  async assemble(def: ModuleDef): Promise<Assembled> {
    const source = def.source;
    if (source.kind === "binary") {
      return compileOrSkip(source.bytes, "binary");
    }
    let wabtProblem: string;
    try {
      const compiled = compileOrSkip(this.wat2wasm(source.text), "wabt");
      if (!("skip" in compiled)) return compiled;
      wabtProblem = compiled.skip.detail;
    } catch (error) {
      wabtProblem = `wabt: ${firstLine(wabtErrorText(error))}`;
    }
    let bytes: Uint8Array;
    try {
      bytes = await this.#binaryenWat2wasm(source.text);
    } catch (error) {
      return {
        skip: {
          reason: "module text not assembled (wabt and binaryen both failed)",
          detail: `${wabtProblem}; binaryen: ${firstLine(errorText(error))}`,
        },
      };
    }
    const compiled = compileOrSkip(bytes, "binaryen");
    if ("skip" in compiled) {
      compiled.skip.detail = `${wabtProblem}; ${compiled.skip.detail}`;
    }
    return compiled;
  }
}

/**
 * Binaryen copies text into its heap one char per byte, mangling anything
 * past ASCII. Legal wat has such characters only in strings (and comments),
 * where a `\xx` escape of each UTF-8 byte means the same.
 */
function asciiOnly(text: string): string {
  return text.replace(/[\u0080-\u{10ffff}]/gu, (char) =>
    Array.from(
      new TextEncoder().encode(char),
      (b) => `\\${b.toString(16).padStart(2, "0")}`,
    ).join(""));
}

/** The useful line of a wabt error: the first that says `error:`. */
function wabtErrorText(error: unknown): string {
  const text = errorText(error);
  return text.split("\n").find((line) => line.includes("error:"))?.trim() ??
    firstLine(text);
}

function compileOrSkip(bytes: Uint8Array, via: string): Assembled {
  try {
    return {
      bytes,
      module: new WebAssembly.Module(bytes as BufferSource),
      via,
    };
  } catch (error) {
    return {
      skip: {
        reason: "module rejected by V8",
        detail: `${via} bytes: ${firstLine(errorText(error))}`,
      },
    };
  }
}
