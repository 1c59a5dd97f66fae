/**
 * A reader for WebAssembly spec-test scripts (`.wast`).
 *
 * It turns a script into a list of {@linkcode Command}s: modules (text,
 * `binary`, `quote`, `definition` and `instance` forms), registrations,
 * actions and assertions. Module text is handed on verbatim (an assembler
 * such as wabt turns it into bytes); constants in actions and expected results
 * are parsed here, exactly, down to NaN payloads.
 *
 * Layers, bottom up: {@linkcode parseSExprs} (tokens and nesting),
 * {@linkcode parseScript} (commands), and the constant readers
 * ({@linkcode parseFloatBits}, {@linkcode parseInteger}).
 *
 * @module
 */

// ---------------------------------------------------------------------------
// S-expressions

/** An atom: a keyword, number, or `$id`. */
export interface SAtom {
  kind: "atom";
  text: string;
  /** Offset of the first character in the source. */
  start: number;
  /** Offset just past the last character. */
  end: number;
  line: number;
}

/** A string literal, as the bytes it denotes. */
export interface SString {
  kind: "string";
  bytes: Uint8Array;
  start: number;
  end: number;
  line: number;
}

/** A parenthesised list. `start` is at `(`, `end` just past `)`. */
export interface SList {
  kind: "list";
  items: SExpr[];
  start: number;
  end: number;
  line: number;
}

/** Any node of a script. */
export type SExpr = SAtom | SString | SList;

/** A script that could not be read; says where and what was expected. */
export class WastSyntaxError extends Error {
  /** 1-based line of the problem. */
  readonly line: number;

  /**
   * @param message What was expected.
   * @param line Where.
   */
  constructor(message: string, line: number) {
    super(`line ${line}: ${message}`);
    this.name = "WastSyntaxError";
    this.line = line;
  }
}

const enum Ch {
  Tab = 0x09,
  Newline = 0x0a,
  Return = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Dollar = 0x24,
  LParen = 0x28,
  RParen = 0x29,
  Semicolon = 0x3b,
  Backslash = 0x5c,
}

const utf8 = new TextEncoder();

function isSpace(c: number): boolean {
  return c === Ch.Space || c === Ch.Newline || c === Ch.Tab ||
    c === Ch.Return;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Streams tokens out of a script and nests them into lists. */
class SExprReader {
  #pos = 0;
  #line = 1;
  readonly #src: string;

  constructor(src: string) {
    this.#src = src;
  }

  readAll(): SExpr[] {
    const top: SExpr[] = [];
    const stack: SList[] = [];
    for (;;) {
      this.#skipTrivia();
      if (this.#pos >= this.#src.length) break;
      const c = this.#src.charCodeAt(this.#pos);
      if (c === Ch.LParen) {
        stack.push({
          kind: "list",
          items: [],
          start: this.#pos,
          end: -1,
          line: this.#line,
        });
        this.#pos++;
        continue;
      }
      if (c === Ch.RParen) {
        const list = stack.pop();
        if (list === undefined) {
          throw new WastSyntaxError("unbalanced `)`", this.#line);
        }
        this.#pos++;
        list.end = this.#pos;
        (stack.length ? stack[stack.length - 1].items : top).push(list);
        continue;
      }
      const node = c === Ch.Quote ? this.#readString() : this.#readAtom();
      (stack.length ? stack[stack.length - 1].items : top).push(node);
    }
    if (stack.length) {
      throw new WastSyntaxError(
        "unclosed `(` at end of script",
        stack[stack.length - 1].line,
      );
    }
    return top;
  }

  #skipTrivia(): void {
    const src = this.#src;
    while (this.#pos < src.length) {
      const c = src.charCodeAt(this.#pos);
      if (c === Ch.Newline) {
        this.#line++;
        this.#pos++;
      } else if (isSpace(c)) {
        this.#pos++;
      } else if (
        c === Ch.Semicolon && src.charCodeAt(this.#pos + 1) === Ch.Semicolon
      ) {
        const eol = src.indexOf("\n", this.#pos);
        this.#pos = eol < 0 ? src.length : eol;
      } else if (
        c === Ch.LParen && src.charCodeAt(this.#pos + 1) === Ch.Semicolon
      ) {
        this.#skipBlockComment();
      } else {
        return;
      }
    }
  }

  #skipBlockComment(): void {
    const src = this.#src;
    const line = this.#line;
    let depth = 0;
    while (this.#pos < src.length) {
      const c = src.charCodeAt(this.#pos);
      const next = src.charCodeAt(this.#pos + 1);
      if (c === Ch.LParen && next === Ch.Semicolon) {
        depth++;
        this.#pos += 2;
      } else if (c === Ch.Semicolon && next === Ch.RParen) {
        depth--;
        this.#pos += 2;
        if (depth === 0) return;
      } else {
        if (c === Ch.Newline) this.#line++;
        this.#pos++;
      }
    }
    throw new WastSyntaxError("unterminated block comment `(;`", line);
  }

  #readAtom(): SAtom {
    const src = this.#src;
    const start = this.#pos;
    while (this.#pos < src.length) {
      const c = src.charCodeAt(this.#pos);
      if (isSpace(c) || c === Ch.LParen || c === Ch.RParen) break;
      if (
        c === Ch.Semicolon && src.charCodeAt(this.#pos + 1) === Ch.Semicolon
      ) {
        break;
      }
      if (c === Ch.Quote) {
        // Only `$"..."` (a quoted identifier) may glue a string to an atom.
        if (this.#pos !== start + 1 || src.charCodeAt(start) !== Ch.Dollar) {
          break;
        }
        this.#readString();
        continue;
      }
      this.#pos++;
    }
    return {
      kind: "atom",
      text: src.slice(start, this.#pos),
      start,
      end: this.#pos,
      line: this.#line,
    };
  }

  #readString(): SString {
    const src = this.#src;
    const start = this.#pos;
    const line = this.#line;
    const bytes: number[] = [];
    this.#pos++; // opening quote
    for (;;) {
      if (this.#pos >= src.length) {
        throw new WastSyntaxError("unterminated string", line);
      }
      const c = src.charCodeAt(this.#pos);
      if (c === Ch.Quote) {
        this.#pos++;
        break;
      }
      if (c === Ch.Newline) {
        throw new WastSyntaxError("newline inside a string", this.#line);
      }
      if (c !== Ch.Backslash) {
        // Runs of plain characters are copied as their UTF-8 encoding.
        let stop = this.#pos;
        while (stop < src.length) {
          const d = src.charCodeAt(stop);
          if (d === Ch.Quote || d === Ch.Backslash || d === Ch.Newline) break;
          stop++;
        }
        const chunk = src.slice(this.#pos, stop);
        for (let i = 0; i < chunk.length; i++) {
          const code = chunk.charCodeAt(i);
          if (code < 0x80) bytes.push(code);
          else {
            for (const b of utf8.encode(chunk.slice(i))) bytes.push(b);
            break;
          }
        }
        this.#pos = stop;
        continue;
      }
      this.#readEscape(bytes);
    }
    return {
      kind: "string",
      bytes: Uint8Array.from(bytes),
      start,
      end: this.#pos,
      line,
    };
  }

  #readEscape(bytes: number[]): void {
    const src = this.#src;
    const e = src[this.#pos + 1];
    this.#pos += 2;
    switch (e) {
      case "n":
        bytes.push(0x0a);
        return;
      case "t":
        bytes.push(0x09);
        return;
      case "r":
        bytes.push(0x0d);
        return;
      case '"':
        bytes.push(0x22);
        return;
      case "'":
        bytes.push(0x27);
        return;
      case "\\":
        bytes.push(0x5c);
        return;
      case "u": {
        const close = src.indexOf("}", this.#pos);
        if (src[this.#pos] !== "{" || close < 0) {
          throw new WastSyntaxError("expected `\\u{hex}` escape", this.#line);
        }
        const code = parseInt(
          src.slice(this.#pos + 1, close).replaceAll("_", ""),
          16,
        );
        if (!Number.isFinite(code) || code > 0x10ffff) {
          throw new WastSyntaxError("bad code point in `\\u{...}`", this.#line);
        }
        for (const b of utf8.encode(String.fromCodePoint(code))) bytes.push(b);
        this.#pos = close + 1;
        return;
      }
    }
    const hi = hexValue(src.charCodeAt(this.#pos - 1));
    const lo = hexValue(src.charCodeAt(this.#pos));
    if (hi < 0 || lo < 0) {
      throw new WastSyntaxError(
        `unknown string escape \`\\${e}\` (expected \\n, \\t, \\r, \\", \\', \\\\, \\u{..} or two hex digits)`,
        this.#line,
      );
    }
    bytes.push(hi * 16 + lo);
    this.#pos++;
  }
}

/**
 * Splits `source` into its top-level s-expressions, dropping comments.
 *
 * @param source The script text.
 * @returns The top-level nodes in order.
 * @throws {WastSyntaxError} On unbalanced parentheses, or a bad string.
 *
 * @example Usage
 * ```ts
 * import { parseSExprs } from "./wast.ts";
 * import assert from "node:assert/strict";
 *
 * const [list] = parseSExprs('(a (; x (; nested ;) ;) "\\41\\u{e9}") ;; end');
 * assert.equal(list.kind, "list");
 * if (list.kind === "list" && list.items[1].kind === "string") {
 *   assert.deepEqual([...list.items[1].bytes], [0x41, 0xc3, 0xa9]);
 * }
 * ```
 */
export function parseSExprs(source: string): SExpr[] {
  return new SExprReader(source).readAll();
}

// ---------------------------------------------------------------------------
// Constants

/** A number or vector, as a script writes it and a harness reads it back: floats as bits, so that NaN payloads compare. */
export type NumericValue =
  | { type: "i32"; value: number }
  | { type: "i64"; value: bigint }
  | { type: "f32"; bits: number }
  | { type: "f64"; bits: bigint }
  | { type: "v128"; bytes: Uint8Array };

/** A value passed to, or returned from, an exported function. */
export type Value =
  | NumericValue
  | { type: "ref.null"; heap: string }
  /** `ref.extern N` or `ref.host N`: host reference number N. */
  | { type: "ref.host"; id: number };

/** How a float in an expected result is matched. */
export type FloatPattern =
  | { bits: bigint }
  | { nan: "canonical" | "arithmetic" };

/** The shape a `v128.const` is written in. */
export type V128Shape =
  | "i8x16"
  | "i16x8"
  | "i32x4"
  | "i64x2"
  | "f32x4"
  | "f64x2";

/** An expected result of `assert_return`. */
export type Expected =
  | { type: "i32"; value: number }
  | { type: "i64"; value: bigint }
  | { type: "f32" | "f64"; pattern: FloatPattern }
  | { type: "v128"; shape: V128Shape; lanes: FloatPattern[] }
  | { type: "ref.null"; heap: string }
  /** A non-null reference of a kind (`func`, `extern`, `struct`, ...), maybe a host number. */
  | { type: "ref"; heap: string; id?: number }
  | { type: "either"; options: Expected[] };

/** Binary float formats, as exponent and fraction widths. */
const F32 = { expBits: 8, fracBits: 23 } as const;
const F64 = { expBits: 11, fracBits: 52 } as const;
type FloatFormat = typeof F32 | typeof F64;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/**
 * Rounds `num / den` (both non-negative) to the nearest float of `format`,
 * ties to even, and returns its bits without the sign.
 */
function roundRational(num: bigint, den: bigint, format: FloatFormat): bigint {
  const { expBits, fracBits } = format;
  const bias = (1 << (expBits - 1)) - 1;
  const infBits = BigInt((1 << expBits) - 1) << BigInt(fracBits);
  if (num === 0n) return 0n;
  // exp = floor(log2(num / den)), refined from the bit lengths.
  let exp = bitLength(num) - bitLength(den);
  const ge = (e: number) =>
    e >= 0 ? num >= den << BigInt(e) : num << BigInt(-e) >= den;
  if (!ge(exp)) exp--;
  if (exp > bias) return infBits;
  const minExp = 1 - bias;
  if (exp < minExp) exp = minExp;
  // mantissa = round(num / den * 2^(fracBits - exp))
  const shift = fracBits - exp;
  let n = num, d = den;
  if (shift >= 0) n <<= BigInt(shift);
  else d <<= BigInt(-shift);
  let mantissa = n / d;
  const twice = (n % d) * 2n;
  if (twice > d || (twice === d && (mantissa & 1n) === 1n)) mantissa++;
  const hidden = 1n << BigInt(fracBits);
  if (mantissa === hidden << 1n) {
    mantissa >>= 1n;
    exp++;
    if (exp > bias) return infBits;
  }
  if (mantissa < hidden) return mantissa; // subnormal, biased exponent 0
  return (BigInt(exp + bias) << BigInt(fracBits)) | (mantissa - hidden);
}

const decimalFloat = /^(\d[\d_]*)?(?:\.([\d_]*))?(?:[eE]([+-]?[\d_]+))?$/;
const hexFloat =
  /^0x([0-9a-fA-F][0-9a-fA-F_]*)?(?:\.([0-9a-fA-F_]*))?(?:[pP]([+-]?[\d_]+))?$/;

/**
 * The bits of a float literal in wat syntax: decimal, hex (`0x1.8p3`),
 * `inf`, `nan` or `nan:0x...`, each optionally signed and with `_`
 * separators. Rounds exactly (ties to even), unlike `Math.fround(Number(x))`,
 * which can round twice.
 *
 * @param text The literal.
 * @param type `f32` or `f64`.
 * @returns The bit pattern: a `number` for f32, a `bigint` for f64.
 * @throws {SyntaxError} When `text` is not a float literal.
 *
 * @example Usage
 * ```ts
 * import { parseFloatBits } from "./wast.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseFloatBits("-0x1p-1", "f32"), 0xbf000000);
 * // Just above the midpoint between 1 and the next f32: rounds up, where
 * // Math.fround(Number(...)) would round twice and land on 1.
 * assert.equal(parseFloatBits("1.00000005960464477539062501", "f32"), 0x3f800001);
 * assert.equal(parseFloatBits("nan:0x1", "f64"), 0x7ff0000000000001n);
 * ```
 */
export function parseFloatBits(text: string, type: "f32"): number;
export function parseFloatBits(text: string, type: "f64"): bigint;
export function parseFloatBits(
  text: string,
  type: "f32" | "f64",
): number | bigint {
  const format = type === "f32" ? F32 : F64;
  const bits = floatMagnitudeBits(text, format);
  return type === "f32" ? Number(bits) >>> 0 : bits;
}

function floatMagnitudeBits(text: string, format: FloatFormat): bigint {
  const negative = text.startsWith("-");
  const body = negative || text.startsWith("+") ? text.slice(1) : text;
  const signBit = negative
    ? 1n << BigInt(format.expBits + format.fracBits)
    : 0n;
  const expAllOnes = BigInt((1 << format.expBits) - 1) <<
    BigInt(format.fracBits);
  if (body === "inf") return signBit | expAllOnes;
  if (body === "nan") {
    return signBit | expAllOnes | (1n << BigInt(format.fracBits - 1));
  }
  if (body.startsWith("nan:0x")) {
    const payload = BigInt("0x" + body.slice(6).replaceAll("_", ""));
    if (payload === 0n || payload >> BigInt(format.fracBits) !== 0n) {
      throw new SyntaxError(`NaN payload out of range in \`${text}\``);
    }
    return signBit | expAllOnes | payload;
  }
  let num: bigint, den = 1n;
  let exp: bigint;
  let base: bigint;
  const hex = hexFloat.exec(body);
  if (hex !== null && (hex[1] !== undefined || hex[2])) {
    const int = (hex[1] ?? "").replaceAll("_", "");
    const frac = (hex[2] ?? "").replaceAll("_", "");
    num = BigInt("0x0" + int + frac);
    base = 2n;
    exp = BigInt((hex[3] ?? "0").replaceAll("_", "")) - BigInt(4 * frac.length);
  } else {
    const dec = decimalFloat.exec(body);
    if (dec === null || (dec[1] === undefined && !dec[2])) {
      throw new SyntaxError(`expected a float literal, got \`${text}\``);
    }
    const int = (dec[1] ?? "").replaceAll("_", "");
    const frac = (dec[2] ?? "").replaceAll("_", "");
    const e = (dec[3] ?? "0").replaceAll("_", "");
    if (format === F64) {
      // ECMAScript's Number() rounds decimals to the nearest double exactly.
      return signBit | f64Bits(Number(`${int || "0"}.${frac || "0"}e${e}`));
    }
    num = BigInt("0" + int + frac);
    base = 10n;
    exp = BigInt(e) - BigInt(frac.length);
  }
  if (exp >= 0n) num *= base ** exp;
  else den = base ** -exp;
  return signBit | roundRational(num, den, format);
}

const scratch = new DataView(new ArrayBuffer(8));

function f64Bits(x: number): bigint {
  scratch.setFloat64(0, x, true);
  return scratch.getBigUint64(0, true);
}

/**
 * Reads an integer literal (decimal or `0x` hex, signed or not, with `_`)
 * and wraps it to `bits` bits, two's complement.
 *
 * @param text The literal.
 * @param bits The width: 8, 16, 32 or 64.
 * @returns The value, signed.
 * @throws {SyntaxError} When `text` is not an integer literal.
 *
 * @example Usage
 * ```ts
 * import { parseInteger } from "./wast.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseInteger("0xffff_ffff", 32), -1n);
 * ```
 */
export function parseInteger(text: string, bits: number): bigint {
  const negative = text.startsWith("-");
  const body = (negative || text.startsWith("+") ? text.slice(1) : text)
    .replaceAll("_", "");
  if (!/^(?:\d+|0x[0-9a-fA-F]+)$/.test(body)) {
    throw new SyntaxError(`expected an integer literal, got \`${text}\``);
  }
  const magnitude = BigInt(body);
  return BigInt.asIntN(bits, negative ? -magnitude : magnitude);
}

const laneCount: Record<V128Shape, number> = {
  i8x16: 16,
  i16x8: 8,
  i32x4: 4,
  i64x2: 2,
  f32x4: 4,
  f64x2: 2,
};

function isV128Shape(text: string): text is V128Shape {
  return text in laneCount;
}

function atomText(node: SExpr | undefined, what: string, line: number): string {
  if (node?.kind !== "atom") {
    throw new WastSyntaxError(`expected ${what}`, node?.line ?? line);
  }
  return node.text;
}

/** Reads one lane of a `v128.const` into a pattern (NaN patterns allowed). */
function lanePattern(shape: V128Shape, text: string): FloatPattern {
  if (shape === "f32x4" || shape === "f64x2") {
    if (text === "nan:canonical" || text === "nan:arithmetic") {
      return { nan: text.slice(4) as "canonical" | "arithmetic" };
    }
    return {
      bits: shape === "f32x4"
        ? BigInt(parseFloatBits(text, "f32"))
        : parseFloatBits(text, "f64"),
    };
  }
  const width = 128 / laneCount[shape];
  return { bits: BigInt.asUintN(width, parseInteger(text, width)) };
}

function v128Lanes(
  items: SExpr[],
  line: number,
): { shape: V128Shape; lanes: FloatPattern[] } {
  const shape = atomText(items[1], "a v128 shape", line);
  if (!isV128Shape(shape)) {
    throw new WastSyntaxError(`unknown v128 shape \`${shape}\``, line);
  }
  const texts = items.slice(2).map((n) => atomText(n, "a lane", line));
  if (texts.length !== laneCount[shape]) {
    throw new WastSyntaxError(
      `${shape} needs ${laneCount[shape]} lanes, got ${texts.length}`,
      line,
    );
  }
  return { shape, lanes: texts.map((t) => lanePattern(shape, t)) };
}

/**
 * Packs v128 lanes into 16 little-endian bytes.
 *
 * @param shape The lane shape.
 * @param lanes Each lane's bits (no NaN patterns).
 * @returns The vector's bytes.
 *
 * @example Usage
 * ```ts
 * import { packV128 } from "./wast.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = packV128("i32x4", [1n, 0n, 0n, 0n]);
 * assert.equal(bytes[0], 1);
 * ```
 */
export function packV128(shape: V128Shape, lanes: bigint[]): Uint8Array {
  const bytes = new Uint8Array(16);
  const width = 16 / laneCount[shape];
  lanes.forEach((lane, i) => {
    for (let b = 0; b < width; b++) {
      bytes[i * width + b] = Number((lane >> BigInt(8 * b)) & 0xffn);
    }
  });
  return bytes;
}

function refHostId(items: SExpr[], line: number): number | undefined {
  return items.length > 1
    ? Number(
      parseInteger(atomText(items[1], "a host reference number", line), 64),
    )
    : undefined;
}

function parseValue(node: SExpr): Value {
  if (node.kind !== "list" || node.items[0]?.kind !== "atom") {
    throw new WastSyntaxError(
      "expected a constant like `(i32.const 1)`",
      node.line,
    );
  }
  const head = node.items[0].text;
  const line = node.line;
  const arg = () => atomText(node.items[1], `an operand for ${head}`, line);
  switch (head) {
    case "i32.const":
      return { type: "i32", value: Number(parseInteger(arg(), 32)) };
    case "i64.const":
      return { type: "i64", value: parseInteger(arg(), 64) };
    case "f32.const":
      return { type: "f32", bits: parseFloatBits(arg(), "f32") };
    case "f64.const":
      return { type: "f64", bits: parseFloatBits(arg(), "f64") };
    case "v128.const": {
      const { shape, lanes } = v128Lanes(node.items, line);
      return {
        type: "v128",
        bytes: packV128(
          shape,
          lanes.map((l) => {
            if (!("bits" in l)) {
              throw new WastSyntaxError("NaN pattern in an argument", line);
            }
            return l.bits;
          }),
        ),
      };
    }
    case "ref.null":
      return {
        type: "ref.null",
        heap: node.items[1]?.kind === "atom" ? node.items[1].text : "any",
      };
    case "ref.extern":
    case "ref.host": {
      const id = refHostId(node.items, line);
      if (id === undefined) {
        throw new WastSyntaxError(
          `${head} needs a number as an argument`,
          line,
        );
      }
      return { type: "ref.host", id };
    }
  }
  throw new WastSyntaxError(`unknown constant \`${head}\``, line);
}

function floatPattern(text: string, type: "f32" | "f64"): FloatPattern {
  if (text === "nan:canonical" || text === "nan:arithmetic") {
    return { nan: text.slice(4) as "canonical" | "arithmetic" };
  }
  return {
    bits: type === "f32"
      ? BigInt(parseFloatBits(text, "f32"))
      : parseFloatBits(text, "f64"),
  };
}

function parseExpected(node: SExpr): Expected {
  if (node.kind !== "list" || node.items[0]?.kind !== "atom") {
    throw new WastSyntaxError(
      "expected a result like `(i32.const 1)`",
      node.line,
    );
  }
  const head = node.items[0].text;
  const line = node.line;
  switch (head) {
    case "f32.const":
    case "f64.const": {
      const type = head === "f32.const" ? "f32" : "f64";
      return {
        type,
        pattern: floatPattern(atomText(node.items[1], "a float", line), type),
      };
    }
    case "v128.const":
      return { type: "v128", ...v128Lanes(node.items, line) };
    case "either":
      return {
        type: "either",
        options: node.items.slice(1).map(parseExpected),
      };
    case "ref.null":
      return {
        type: "ref.null",
        heap: node.items[1]?.kind === "atom" ? node.items[1].text : "any",
      };
    case "i32.const":
      return {
        type: "i32",
        value: Number(
          parseInteger(atomText(node.items[1], "an i32", line), 32),
        ),
      };
    case "i64.const":
      return {
        type: "i64",
        value: parseInteger(atomText(node.items[1], "an i64", line), 64),
      };
  }
  if (head.startsWith("ref.")) {
    return {
      type: "ref",
      heap: head.slice(4),
      id: refHostId(node.items, line),
    };
  }
  throw new WastSyntaxError(`unknown result \`${head}\``, line);
}

// ---------------------------------------------------------------------------
// Commands

/** Where a module's bytes come from. */
export type ModuleSource =
  /** Wat text, normalised to `(module $id? ...)` for an assembler. */
  | { kind: "text"; text: string }
  /** `(module binary "...")`: the bytes themselves. */
  | { kind: "binary"; bytes: Uint8Array }
  /** `(module quote "...")`: wat text given as strings, normalised as for "text". */
  | { kind: "quote"; text: string };

/** A module written in a script, with its optional `$id`. */
export interface ModuleDef {
  id?: string;
  /** `(module definition ...)`: compile only, instantiate later. */
  definition: boolean;
  source: ModuleSource;
  line: number;
}

/** Something done to a module instance. */
export type Action =
  | {
    kind: "invoke";
    module?: string;
    name: string;
    args: Value[];
    line: number;
  }
  | { kind: "get"; module?: string; name: string; line: number };

/** One command of a script. */
export type Command =
  | { type: "module"; line: number; module: ModuleDef }
  | { type: "module_instance"; line: number; id?: string; definition?: string }
  | { type: "register"; line: number; as: string; module?: string }
  | { type: "action"; line: number; action: Action }
  | {
    type: "assert_return";
    line: number;
    action: Action;
    expected: Expected[];
  }
  | { type: "assert_trap"; line: number; action: Action; message: string }
  | { type: "assert_exhaustion"; line: number; action: Action; message: string }
  | { type: "assert_exception"; line: number; action: Action }
  | {
    type:
      | "assert_invalid"
      | "assert_malformed"
      | "assert_unlinkable"
      | "assert_uninstantiable";
    line: number;
    module: ModuleDef;
    message: string;
  }
  /** A command this reader knows the shape of but not the meaning. */
  | { type: "unknown"; line: number; head: string; reason: string };

/** Keeps a leading U+FEFF: in a name it is a character, not a byte-order mark. */
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

function stringText(
  node: SExpr | undefined,
  what: string,
  line: number,
): string {
  if (node?.kind !== "string") {
    throw new WastSyntaxError(
      `expected ${what} as a string`,
      node?.line ?? line,
    );
  }
  return textDecoder.decode(node.bytes);
}

function optionalId(items: SExpr[], index: number): string | undefined {
  const node = items[index];
  return node?.kind === "atom" && node.text.startsWith("$")
    ? node.text
    : undefined;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Quoted text is either a whole `(module ...)` or just its fields; an
 * assembler wants the former.
 */
function quotedModuleText(text: string, id: string | undefined): string {
  return /^\s*\(module(?![^\s()])/.test(text)
    ? text
    : `(module ${id ?? ""}\n${text}\n)`;
}

function parseModule(module: SList, source: string): ModuleDef {
  const node = withoutAnnotations(module);
  const items = node.items;
  let i = 1;
  let definition = false;
  if (items[i]?.kind === "atom" && (items[i] as SAtom).text === "definition") {
    definition = true;
    i++;
  }
  const id = optionalId(items, i);
  if (id !== undefined) i++;
  const form = items[i];
  if (
    form?.kind === "atom" && (form.text === "binary" || form.text === "quote")
  ) {
    const strings = items.slice(i + 1).map((n) => {
      if (n.kind !== "string") {
        throw new WastSyntaxError(
          `expected strings after \`${form.text}\``,
          n.line,
        );
      }
      return n.bytes;
    });
    const bytes = concatBytes(strings);
    return {
      id,
      definition,
      line: node.line,
      source: form.text === "binary" ? { kind: "binary", bytes } : {
        kind: "quote",
        text: quotedModuleText(textDecoder.decode(bytes), id),
      },
    };
  }
  // Re-emit the fields verbatim behind a plain `(module $id?` header, so a
  // wat assembler that knows no `definition` keyword can read it.
  const body = form === undefined ? ")" : source.slice(form.start, node.end);
  return {
    id,
    definition,
    line: node.line,
    source: { kind: "text", text: `(module ${id ?? ""}\n${body}` },
  };
}

function expectList(
  node: SExpr | undefined,
  what: string,
  line: number,
): SList {
  if (node?.kind !== "list") {
    throw new WastSyntaxError(`expected ${what}`, node?.line ?? line);
  }
  return node;
}

function headOf(node: SList): string {
  return node.items[0]?.kind === "atom" ? node.items[0].text : "";
}

function isAnnotation(node: SExpr): boolean {
  return node.kind === "list" && node.items[0]?.kind === "atom" &&
    node.items[0].text.startsWith("@");
}

/** The list without its `(@name ...)` annotations, which carry no meaning here. */
function withoutAnnotations(node: SList): SList {
  return node.items.some(isAnnotation)
    ? { ...node, items: node.items.filter((n) => !isAnnotation(n)) }
    : node;
}

function parseAction(node: SExpr | undefined, line: number): Action {
  const list = expectList(
    node,
    "an action `(invoke ...)` or `(get ...)`",
    line,
  );
  const head = headOf(list);
  const module = optionalId(list.items, 1);
  const nameAt = module === undefined ? 1 : 2;
  const name = stringText(list.items[nameAt], "an export name", list.line);
  if (head === "invoke") {
    return {
      kind: "invoke",
      module,
      name,
      args: list.items.slice(nameAt + 1).map(parseValue),
      line: list.line,
    };
  }
  if (head === "get") return { kind: "get", module, name, line: list.line };
  throw new WastSyntaxError(
    `expected invoke or get, got \`${head}\``,
    list.line,
  );
}

const moduleFields = new Set([
  "type",
  "rec",
  "import",
  "func",
  "table",
  "memory",
  "global",
  "export",
  "start",
  "elem",
  "data",
  "tag",
]);

function isModuleField(node: SExpr): boolean {
  return node.kind === "list" && moduleFields.has(headOf(node));
}

function isModuleForm(node: SExpr | undefined): node is SList {
  return node?.kind === "list" && headOf(node) === "module";
}

function parseCommand(command: SExpr, source: string): Command {
  const line = command.line;
  if (command.kind !== "list") {
    return {
      type: "unknown",
      line,
      head: "?",
      reason: "a bare token at top level",
    };
  }
  const node = withoutAnnotations(command);
  const head = headOf(node);
  const items = node.items;
  switch (head) {
    case "module":
      if (items[1]?.kind === "atom" && items[1].text === "instance") {
        return {
          type: "module_instance",
          line,
          id: optionalId(items, 2),
          definition: optionalId(items, 3),
        };
      }
      return { type: "module", line, module: parseModule(node, source) };
    case "register":
      return {
        type: "register",
        line,
        as: stringText(items[1], "a registration name", line),
        module: optionalId(items, 2),
      };
    case "invoke":
    case "get":
      return { type: "action", line, action: parseAction(node, line) };
    case "assert_return":
      return {
        type: "assert_return",
        line,
        action: parseAction(items[1], line),
        expected: items.slice(2).map(parseExpected),
      };
    case "assert_trap":
      if (isModuleForm(items[1])) {
        // The old spelling of assert_uninstantiable.
        return {
          type: "assert_uninstantiable",
          line,
          module: parseModule(items[1], source),
          message: stringText(items[2], "a trap message", line),
        };
      }
      return {
        type: "assert_trap",
        line,
        action: parseAction(items[1], line),
        message: stringText(items[2], "a trap message", line),
      };
    case "assert_exhaustion":
      return {
        type: "assert_exhaustion",
        line,
        action: parseAction(items[1], line),
        message: stringText(items[2], "a message", line),
      };
    case "assert_exception":
      return {
        type: "assert_exception",
        line,
        action: parseAction(items[1], line),
      };
    case "assert_invalid":
    case "assert_malformed":
    case "assert_unlinkable":
    case "assert_uninstantiable":
      return {
        type: head,
        line,
        module: parseModule(expectList(items[1], "a module", line), source),
        message: stringText(items[2], "a message", line),
      };
  }
  return { type: "unknown", line, head, reason: `unknown command \`${head}\`` };
}

/**
 * Reads a whole script into commands. A command this reader cannot parse
 * (say, a constant of an unknown type) becomes an `unknown` command with the
 * reason, so one odd line does not hide the rest of a file.
 *
 * @param source The script text.
 * @returns The commands in order.
 * @throws {WastSyntaxError} Only when the s-expressions themselves are
 * broken (unbalanced parentheses, unterminated strings or comments).
 *
 * @example Usage
 * ```ts
 * import { parseScript } from "./wast.ts";
 * import assert from "node:assert/strict";
 *
 * const commands = parseScript(`
 *   (module (func (export "one") (result i32) (i32.const 1)))
 *   (assert_return (invoke "one") (i32.const 1))
 * `);
 * assert.deepEqual(commands.map((c) => c.type), ["module", "assert_return"]);
 * ```
 */
export function parseScript(source: string): Command[] {
  const nodes = parseSExprs(source);
  if (nodes.length > 0 && nodes.every(isModuleField)) {
    // A script made only of module fields is one inline module.
    return [{
      type: "module",
      line: nodes[0].line,
      module: {
        definition: false,
        line: nodes[0].line,
        source: { kind: "text", text: `(module\n${source}\n)` },
      },
    }];
  }
  return nodes.map((node) => {
    try {
      return parseCommand(node, source);
    } catch (error) {
      if (!(error instanceof WastSyntaxError || error instanceof SyntaxError)) {
        throw error;
      }
      const head = node.kind === "list" ? headOf(node) : "?";
      return {
        type: "unknown",
        line: node.line,
        head,
        reason: `unreadable \`${head}\`: ${error.message}`,
      };
    }
  });
}
