/**
 * binaryen's `wasm-opt`, in process: its npm package ships an Emscripten
 * build (JavaScript with the wasm embedded), evaluated and compiled once,
 * whose one instance then runs command after command.
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

/** The glue's own runner of `main`, kept for command after command. */
interface GlueInstance {
  /** Runs `main` with `args`, giving back its stack; returns the status. */
  callMain(args: string[]): number;
}

type EmscriptenFactory = (
  module: Record<string, unknown>,
  require: (name: string) => unknown,
  process: Record<string, unknown>,
  filename: string,
  dirname: string,
  moduleObject: undefined,
  webAssembly: typeof WebAssembly,
) => Promise<GlueInstance>;

/** The statement that ends the Emscripten glue and starts `main`. */
const GLUE_TAIL = "createWasm().then(()=>run());";

/**
 * What the glue ends with instead: the runtime started without a first
 * `main`, and a runner of `main` that frees the stack its arguments took
 * (the glue's own `callMain` leaves them there).
 */
const GLUE_KEPT_TAIL = "await createWasm();Module.noInitialRun=true;" +
  "await run();return {callMain(args){var sp=stackSave();" +
  "try{return callMain(args)}finally{stackRestore(sp)}}};";

/**
 * How many commands one instance runs before a fresh one takes over, which
 * bounds the heap a long fuzzing run leaves behind.
 */
const COMMANDS_PER_INSTANCE = 1000;

/**
 * binaryen's `wasm-opt`, run in this process.
 *
 * The Emscripten glue is evaluated with its own `Module`, `require` and
 * `process`, so it reads and writes real files (NODERAWFS) but its output and
 * exit status are captured, not sent to this process. The wasm is compiled
 * once, and one instance runs {@linkcode WasmOpt.run}'s commands one after
 * the other, as a shell runs `main` again: starting an instance (its memory,
 * its static constructors, the first touch of its heap) costs several times
 * what translate-to-fuzz does. Its `main` keeps nothing from one command to
 * the next that changes the module a seed gives (the fuzz tests check a
 * module from a fresh instance against the kept one's). A failed command, or
 * a thousand, retires the instance.
 */
export class WasmOpt {
  readonly #factory: EmscriptenFactory;
  readonly #path: string;
  #compiled: WebAssembly.Module | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #nodeModules: Record<string, unknown>;
  /** The instance commands run in, and how many it has run. */
  #kept: { glue: GlueInstance; commands: number } | undefined;
  /** Where the command running now writes its output. */
  #chunks: string[] = [];

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
    if (at < 0 || at + GLUE_TAIL.length !== source.trimEnd().length) {
      throw new Error(
        `${path} does not end with "${GLUE_TAIL}": not the Emscripten glue this harness knows`,
      );
    }
    source = source.slice(0, at) + GLUE_KEPT_TAIL;
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
   *
   * @param fresh Run it in an instance of its own, made for it and then
   * dropped, rather than the one kept for every command.
   */
  run(args: readonly string[], fresh = false): Promise<WasmOptResult> {
    const next = this.#queue.then(() => this.#runNow(args, fresh));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #runNow(
    args: readonly string[],
    fresh: boolean,
  ): Promise<WasmOptResult> {
    const chunks: string[] = [];
    this.#chunks = chunks;
    let glue: GlueInstance;
    try {
      if (fresh) glue = await this.#instantiate();
      else {
        this.#kept ??= { glue: await this.#instantiate(), commands: 0 };
        glue = this.#kept.glue;
      }
    } catch (error) {
      chunks.push(String(error));
      return { status: 1, output: chunks.join("") };
    }
    let status: number;
    try {
      status = glue.callMain([...args]);
    } catch (error) {
      chunks.push(String(error));
      status = 1;
    }
    if (!fresh && this.#kept !== undefined) {
      this.#kept.commands += 1;
      // A failed command may have left the instance half done (an abort
      // ends it for good): the next one starts afresh.
      if (status !== 0 || this.#kept.commands >= COMMANDS_PER_INSTANCE) {
        this.#kept = undefined;
      }
    }
    return { status, output: chunks.join("") };
  }

  /** A new instance with its runtime started, before any `main`. */
  async #instantiate(): Promise<GlueInstance> {
    const realFs = this.#nodeModules["node:fs"] as typeof import("node:fs");
    const write = (text: string) => this.#chunks.push(text);
    const decoder = new TextDecoder();
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
          write(decoder.decode(data.subarray(offset, offset + length)));
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
      thisProgram: "wasm-opt",
      print: (line: string) => write(line + "\n"),
      printErr: (line: string) => write(line + "\n"),
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
    // The first instance compiles the embedded wasm; keep the compiled
    // module.
    const webAssembly = Object.create(WebAssembly, {
      instantiate: {
        value: async (bytes: BufferSource, imports: WebAssembly.Imports) => {
          const result = await WebAssembly.instantiate(bytes, imports);
          this.#compiled = result.module;
          return result;
        },
      },
    });
    return await this.#factory(
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
  }
}
