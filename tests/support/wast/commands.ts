/**
 * Commands: the modules, registrations, actions and assertions of a script.
 *
 * @module
 */

import {
  type Expected,
  parseExpected,
  parseValue,
  type Value,
} from "./constants.ts";
import {
  parseSExprs,
  type SAtom,
  type SExpr,
  type SList,
  WastSyntaxError,
} from "./sexpr.ts";
import { concatBytes } from "../../../src/bytes.ts";

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
    const bytes = concatBytes(...strings);
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
 * import { parseScript } from "./commands.ts";
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
