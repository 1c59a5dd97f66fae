/**
 * Constants as scripts write them: values of actions and expected results,
 * parsed exactly, down to NaN payloads.
 *
 * @module
 */

import { type SExpr, WastSyntaxError } from "./sexpr.ts";

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
 * import { parseFloatBits } from "./constants.ts";
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
 * import { parseInteger } from "./constants.ts";
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
 * import { packV128 } from "./constants.ts";
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

export function parseValue(node: SExpr): Value {
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

export function parseExpected(node: SExpr): Expected {
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
