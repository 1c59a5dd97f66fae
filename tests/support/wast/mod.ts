/**
 * A reader for WebAssembly spec-test scripts (`.wast`).
 *
 * It turns a script into a list of {@linkcode Command}s: modules (text,
 * `binary`, `quote`, `definition` and `instance` forms), registrations,
 * actions and assertions. Module text is handed on verbatim (an assembler
 * such as wabt turns it into bytes); constants in actions and expected results
 * are parsed here, exactly, down to NaN payloads.
 *
 * Layers, bottom up: {@linkcode parseSExprs} (`sexpr.ts`: tokens and
 * nesting), the constant readers ({@linkcode parseFloatBits},
 * {@linkcode parseInteger}, in `constants.ts`), and {@linkcode parseScript}
 * (`commands.ts`).
 *
 * @module
 */

export {
  parseSExprs,
  type SAtom,
  type SExpr,
  type SList,
  type SString,
  WastSyntaxError,
} from "./sexpr.ts";
export {
  type Expected,
  type FloatPattern,
  type NumericValue,
  packV128,
  parseFloatBits,
  parseInteger,
  type V128Shape,
  type Value,
} from "./constants.ts";
export {
  type Action,
  type Command,
  type ModuleDef,
  type ModuleSource,
  parseScript,
} from "./commands.ts";
