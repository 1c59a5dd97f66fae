/**
 * Real modules for the benchmarks, taken from the npm packages pinned in
 * deno.json: hash-wasm's hashers (embedded as base64 in its dist bundle) and
 * esbuild-wasm's `esbuild.wasm`. The package directories are resolved
 * through `deno info --json`, so that they come from wherever this Deno
 * keeps its npm cache (or `node_modules`, when the project uses one).
 */

import { npmPackageDir } from "./npm.ts";

/** Decodes standard base64 into bytes. */
function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Every wasm binary embedded in hash-wasm's ESM bundle, by hash-wasm's own
 * name for it (`"sha256"`, `"sha3"` for keccak and SHA-3, `"xxhash64"`).
 */
export async function hashWasmBinaries(): Promise<
  Map<string, Uint8Array<ArrayBuffer>>
> {
  const dir = await npmPackageDir("hash-wasm");
  const bundle = await Deno.readTextFile(new URL("dist/index.esm.js", dir));
  // The bundle declares each binary as `var name$x = "…"; var data$x = "…";`.
  const entry = /var name(\$\w*)? = "([\w-]+)";\s*var data\1 = "([^"]+)"/g;
  const binaries = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const [, , name, data] of bundle.matchAll(entry)) {
    binaries.set(name, decodeBase64(data));
  }
  if (binaries.size === 0) {
    throw new Error(
      'found no embedded wasm in hash-wasm\'s dist/index.esm.js: expected `var name = "…"; var data = "<base64>"` pairs',
    );
  }
  return binaries;
}

/** esbuild-wasm's `esbuild.wasm` (about 14 MB, Go-compiled). */
export async function esbuildWasm(): Promise<Uint8Array<ArrayBuffer>> {
  const dir = await npmPackageDir("esbuild-wasm");
  return await Deno.readFile(new URL("esbuild.wasm", dir));
}

/** Calls one export by name: raw exports, or early-exit's `invoke`. */
export type Call = (name: string, args: number[]) => unknown;
/** Calls one export by name and waits for it: early-exit's `invokeAsync`. */
export type AsyncCall = (name: string, args: number[]) => Promise<unknown>;

/**
 * One benchmark case: a module and a piece of work on it, runnable through
 * any way of calling its exports, with the value it must produce.
 */
export interface Workload {
  /** The row's name. */
  label: string;
  /** The module, unmetered. */
  bytes: Uint8Array<ArrayBuffer>;
  /** What {@linkcode Workload.run} returns when the work was done right. */
  expected: string;
  /**
   * Does the work.
   *
   * @param call Calls an export of the instance.
   * @param exports The instance's exports, for its memory.
   * @returns The check value (a digest in hex, or a result).
   */
  run(call: Call, exports: WebAssembly.Exports): string;
  /** {@linkcode Workload.run}, through an async call. */
  runAsync(call: AsyncCall, exports: WebAssembly.Exports): Promise<string>;
}

/** How hash-wasm drives one of its binaries. */
interface HashSpec {
  label: string;
  /** hash-wasm's name for the binary. */
  module: string;
  initArgs: number[];
  finalArgs: number[];
  digestBytes: number;
  /** Whether `Hash_Init` reads an 8-byte seed from the buffer (xxHash). */
  seeded: boolean;
  /** The same digest through hash-wasm's own API. */
  reference: (data: Uint8Array) => Promise<string>;
}

/** hash-wasm copies input through a buffer of this size (its `MAX_HEAP`). */
const CHUNK = 16 * 1024;

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** The memory export's bytes at `offset`, rebuilt if the memory grew. */
function bufferView(
  exports: WebAssembly.Exports,
  offset: number,
): () => Uint8Array {
  const memory = exports.memory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new TypeError("expected the hash module to export its memory");
  }
  let view = new Uint8Array(memory.buffer, offset, CHUNK);
  return () => {
    if (view.buffer !== memory.buffer) {
      view = new Uint8Array(memory.buffer, offset, CHUNK);
    }
    return view;
  };
}

function hashWorkload(
  spec: HashSpec,
  bytes: Uint8Array<ArrayBuffer>,
  data: Uint8Array,
  expected: string,
): Workload {
  const digest = (view: Uint8Array) =>
    toHex(view.subarray(0, spec.digestBytes));
  return {
    label: `${spec.label} (hash-wasm, ${data.length >> 20} MiB)`,
    bytes,
    expected,
    run(call, exports) {
      const view = bufferView(exports, call("Hash_GetBuffer", []) as number);
      if (spec.seeded) view().fill(0, 0, 8);
      call("Hash_Init", spec.initArgs);
      for (let at = 0; at < data.length; at += CHUNK) {
        const chunk = data.subarray(at, at + CHUNK);
        view().set(chunk);
        call("Hash_Update", [chunk.length]);
      }
      call("Hash_Final", spec.finalArgs);
      return digest(view());
    },
    async runAsync(call, exports) {
      const offset = await call("Hash_GetBuffer", []) as number;
      const view = bufferView(exports, offset);
      if (spec.seeded) view().fill(0, 0, 8);
      await call("Hash_Init", spec.initArgs);
      for (let at = 0; at < data.length; at += CHUNK) {
        const chunk = data.subarray(at, at + CHUNK);
        view().set(chunk);
        await call("Hash_Update", [chunk.length]);
      }
      await call("Hash_Final", spec.finalArgs);
      return digest(view());
    },
  };
}

/** Deterministic pseudo-random bytes (xorshift32), so every run hashes the same. */
function testData(size: number): Uint8Array {
  const data = new Uint8Array(size);
  const words = new Uint32Array(data.buffer);
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return data;
}

/**
 * hash-wasm's sha256, sha512, blake3, keccak-256, md5 and xxhash64, each
 * hashing `mebibytes` MiB through its 16 KiB buffer, with the digest
 * hash-wasm's own API gives for the same data.
 */
export async function hashWorkloads(mebibytes = 16): Promise<Workload[]> {
  const api = await import("hash-wasm");
  const specs: HashSpec[] = [
    {
      label: "sha256",
      module: "sha256",
      initArgs: [256],
      finalArgs: [],
      digestBytes: 32,
      seeded: false,
      reference: (d) => api.sha256(d),
    },
    {
      label: "sha512",
      module: "sha512",
      initArgs: [512],
      finalArgs: [],
      digestBytes: 64,
      seeded: false,
      reference: (d) => api.sha512(d),
    },
    {
      label: "blake3",
      module: "blake3",
      initArgs: [0],
      finalArgs: [32],
      digestBytes: 32,
      seeded: false,
      reference: (d) => api.blake3(d),
    },
    {
      label: "keccak-256",
      module: "sha3",
      initArgs: [256],
      finalArgs: [0x01],
      digestBytes: 32,
      seeded: false,
      reference: (d) => api.keccak(d, 256),
    },
    {
      label: "md5",
      module: "md5",
      initArgs: [],
      finalArgs: [],
      digestBytes: 16,
      seeded: false,
      reference: (d) => api.md5(d),
    },
    {
      label: "xxhash64",
      module: "xxhash64",
      initArgs: [],
      finalArgs: [],
      digestBytes: 8,
      seeded: true,
      reference: (d) => api.xxhash64(d),
    },
  ];
  const binaries = await hashWasmBinaries();
  const data = testData(mebibytes << 20);
  const workloads: Workload[] = [];
  for (const spec of specs) {
    const bytes = binaries.get(spec.module);
    if (bytes === undefined) {
      throw new Error(
        `hash-wasm's bundle has no "${spec.module}" binary; it has: ${
          [...binaries.keys()].join(", ")
        }`,
      );
    }
    workloads.push(
      hashWorkload(spec, bytes, data, await spec.reference(data)),
    );
  }
  return workloads;
}

/** What `mix_loop(n)` of guest/compute.wat returns. */
function mixLoop(n: number): number {
  let h = 0;
  for (let i = 0; i < n; i++) h = Math.imul(h, 0x9e3779b1) ^ i;
  return h;
}

/** `fib(30)` and `mix_loop(mixN)` of guest/compute.wasm. */
export async function computeWorkloads(
  mixN = 10_000_000,
): Promise<Workload[]> {
  const bytes = await Deno.readFile(
    new URL("../guest/compute.wasm", import.meta.url),
  );
  const single = (
    label: string,
    name: string,
    arg: number,
    expected: number,
  ): Workload => ({
    label,
    bytes,
    expected: String(expected),
    run: (call) => String(call(name, [arg])),
    runAsync: async (call) => String(await call(name, [arg])),
  });
  return [
    single("fib(30) (compute.wasm, calls)", "fib", 30, 832040),
    single(
      `mix_loop(${
        mixN.toExponential(0).replace("+", "")
      }) (compute.wasm, loop + call)`,
      "mix_loop",
      mixN,
      mixLoop(mixN),
    ),
  ];
}

/** Calls a raw instance's exports. */
export function rawCall(exports: WebAssembly.Exports): Call {
  return (name, args) =>
    (exports[name] as (...args: number[]) => unknown)(...args);
}

/**
 * Runs a workload once and insists on the right answer before it is timed.
 *
 * @param workload The workload, with its expected answer.
 * @param side Which side runs it, for the error message.
 * @param run One run of the workload.
 * @returns `run`, once it has given the expected answer.
 */
export async function checked<R extends () => string | Promise<string>>(
  workload: Workload,
  side: string,
  run: R,
): Promise<R> {
  const got = await run();
  if (got !== workload.expected) {
    throw new Error(
      `${workload.label}: ${side} produced ${got}, expected ${workload.expected}`,
    );
  }
  return run;
}
