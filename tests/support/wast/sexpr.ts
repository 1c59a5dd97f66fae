/**
 * S-expressions: the tokens and nesting of a `.wast` script, with the line
 * each form starts on.
 *
 * @module
 */

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
 * import { parseSExprs } from "./sexpr.ts";
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
