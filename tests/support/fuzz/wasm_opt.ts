/**
 * binaryen's `wasm-opt`, in process: its npm package ships an Emscripten
 * build (JavaScript with the wasm embedded), evaluated once and then
 * instantiated afresh for every command.
 *
 * @module
 */

import { findNpmFile } from "../../../bench/npm.ts";

/** What one `wasm-opt` command did. */
export interface WasmOptResult {
  /** The exit status (0 on success). */
  status: number;
  /** Everything it wrote to stdout and stderr. */
  output: string;
}

type EmscriptenFactory = (
  module: Record<string, unknown>,
  require: (name: string) => unknown,
  process: Record<string, unknown>,
  filename: string,
  dirname: string,
  moduleObject: undefined,
  webAssembly: typeof WebAssembly,
) => Promise<void>;

/** The statement that ends the Emscripten glue and starts `main`. */
const GLUE_TAIL = "createWasm().then(()=>run());";

/**
 * binaryen's `wasm-opt`, run in this process.
 *
 * The Emscripten glue is evaluated with its own `Module`, `require` and
 * `process`, so it reads and writes real files (NODERAWFS) but its output and
 * exit status are captured, not sent to this process. The wasm is compiled
 * once; every {@linkcode WasmOpt.run} gets a fresh instance, so no state
 * carries over between commands.
 */
export class WasmOpt {
  readonly #factory: EmscriptenFactory;
  readonly #path: string;
  #compiled: WebAssembly.Module | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #nodeModules: Record<string, unknown>;

  private constructor(
    factory: EmscriptenFactory,
    path: string,
    nodeModules: Record<string, unknown>,
  ) {
    this.#factory = factory;
    this.#path = path;
    this.#nodeModules = nodeModules;
  }

  /** Finds and evaluates the package's `wasm-opt`. */
  static async load(): Promise<WasmOpt> {
    const found = await findNpmFile("binaryen", "bin/wasm-opt");
    if (found === undefined) {
      throw new Error(
        "cannot find binaryen's bin/wasm-opt: deno info --json binaryen (which needs --allow-run) gave no package directory",
      );
    }
    const path = found.pathname;
    let source = await Deno.readTextFile(path);
    const at = source.lastIndexOf(GLUE_TAIL);
    if (at < 0) {
      throw new Error(
        `${path} does not end with "${GLUE_TAIL}": not the Emscripten glue this harness knows`,
      );
    }
    // Returning the start-up promise lets a failed run reject to our caller
    // instead of becoming an unhandled rejection.
    source = source.slice(0, at) + "return " + source.slice(at);
    source = source.replace(/^#!.*\n/, "");
    // deno-lint-ignore no-explicit-any
    const AsyncFunction = (async () => {}).constructor as any;
    const factory = new AsyncFunction(
      "Module",
      "require",
      "process",
      "__filename",
      "__dirname",
      "module",
      "WebAssembly",
      source,
    ) as EmscriptenFactory;
    const [fs, path_, tty, crypto] = await Promise.all([
      import("node:fs"),
      import("node:path"),
      import("node:tty"),
      import("node:crypto"),
    ]);
    return new WasmOpt(factory, path, {
      "node:fs": fs.default,
      "node:path": path_.default,
      "node:tty": tty.default,
      "node:crypto": crypto.default,
    });
  }

  /**
   * Runs `wasm-opt` with `args` (file paths must be absolute). Commands run
   * one at a time.
   */
  run(args: readonly string[]): Promise<WasmOptResult> {
    const next = this.#queue.then(() => this.#runNow(args));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #runNow(args: readonly string[]): Promise<WasmOptResult> {
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    const realFs = this.#nodeModules["node:fs"] as typeof import("node:fs");
    // Output to fd 1 and 2 is kept, not printed.
    const fs = Object.create(realFs, {
      writeSync: {
        value: (fd: number, data: Uint8Array, ...rest: number[]) => {
          if (fd !== 1 && fd !== 2) {
            // deno-lint-ignore no-explicit-any
            return (realFs.writeSync as any)(fd, data, ...rest);
          }
          const offset = rest[0] ?? 0;
          const length = rest[1] ?? data.length - offset;
          chunks.push(decoder.decode(data.subarray(offset, offset + length)));
          return length;
        },
      },
    });
    const modules = { ...this.#nodeModules, "node:fs": fs };
    const proc: Record<string, unknown> = {
      argv: ["node", "wasm-opt"],
      versions: { node: "22.0.0" },
      platform: "linux",
      env: {},
      exitCode: undefined,
      stdin: { fd: 0 },
      cwd: () => Deno.cwd(),
      chdir: () => {
        throw new Error("wasm-opt may not change directory here");
      },
      binding: (name: string) =>
        name === "constants" ? { fs: realFs.constants } : {},
    };
    const module: Record<string, unknown> = {
      arguments: [...args],
      thisProgram: "wasm-opt",
      print: (line: string) => chunks.push(line + "\n"),
      printErr: (line: string) => chunks.push(line + "\n"),
    };
    const compiled = this.#compiled;
    if (compiled) {
      module.instantiateWasm = (
        imports: WebAssembly.Imports,
        done: (instance: WebAssembly.Instance) => void,
      ) => {
        done(new WebAssembly.Instance(compiled, imports));
        return {};
      };
    }
    // The first run compiles the embedded wasm; keep the compiled module.
    const webAssembly = Object.create(WebAssembly, {
      instantiate: {
        value: async (bytes: BufferSource, imports: WebAssembly.Imports) => {
          const result = await WebAssembly.instantiate(bytes, imports);
          this.#compiled = result.module;
          return result;
        },
      },
    });
    try {
      await this.#factory(
        module,
        (name) => {
          if (!(name in modules)) throw new Error(`wasm-opt wants ${name}`);
          return modules[name as keyof typeof modules];
        },
        proc,
        this.#path,
        this.#path.replace(/\/[^/]*$/, ""),
        undefined,
        webAssembly,
      );
    } catch (error) {
      chunks.push(String(error));
      return { status: 1, output: chunks.join("") };
    }
    return { status: Number(proc.exitCode ?? 0), output: chunks.join("") };
  }
}
