/**
 * Rebuilds the committed guests: every `guest/*.wat` through wabt, the
 * Rust crate `early-exit-guest` through rustc for `wasm32-unknown-unknown`,
 * the WASI commands in `guest/wasi/` through clang (`wasm32-wasi`,
 * wasi-libc) and rustc (`wasm32-wasi`), and the bytecode interpreter in
 * `guest/interp/` through clang (`wasm32`, no libc).
 *
 * Run it with `deno task build:guest`. The builds are deterministic, and a
 * test checks that the committed `.wasm` files match a fresh build (the C
 * and Rust ones where their toolchain is installed).
 *
 * @module
 */
import wabtInit from "wabt";

/** Every proposal V8 in Deno 2.9 accepts that wabt can assemble. */
export const WAT_FEATURES = {
  exceptions: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  threads: true,
  multi_value: true,
  tail_call: true,
  bulk_memory: true,
  reference_types: true,
  extended_const: true,
  multi_memory: true,
  memory64: true,
  relaxed_simd: true,
} as const;

/**
 * Every feature wabt knows, for text that V8 rather than wabt is to judge,
 * such as the spec suite's. Parse with it but do not validate with it: with
 * `function_references` on, wabt's validator rejects a `ref.func` stored into
 * a `funcref` table, which is valid.
 */
export const WABT_ALL_FEATURES = {
  ...WAT_FEATURES,
  function_references: true,
  annotations: true,
  code_metadata: true,
  gc: true,
} as const;

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

/**
 * Assembles WebAssembly text into a binary module.
 *
 * @param source The module's text.
 * @param filename Used in error messages.
 * @returns The binary module.
 */
export async function assembleWat(
  source: string,
  filename = "guest.wat",
): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const module = wabt.parseWat(filename, source, WAT_FEATURES);
  try {
    module.resolveNames();
    (module.validate as (features: object) => void)(WAT_FEATURES);
    return module.toBinary({ write_debug_names: true }).buffer;
  } finally {
    module.destroy();
  }
}

const guestDir = new URL("./", import.meta.url);

/** The WAT guests, by file name. */
export async function listWatGuests(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(guestDir)) {
    if (entry.isFile && entry.name.endsWith(".wat")) names.push(entry.name);
  }
  return names.sort();
}

async function buildWatGuests(): Promise<void> {
  for (const name of await listWatGuests()) {
    const source = await Deno.readTextFile(new URL(name, guestDir));
    const bytes = await assembleWat(source, name);
    const out = new URL(name.replace(/\.wat$/, ".wasm"), guestDir);
    await Deno.writeFile(out, bytes);
    console.log(
      `built guest/${name.replace(/\.wat$/, ".wasm")} (${bytes.length} bytes)`,
    );
  }
}

async function buildRustGuest(): Promise<void> {
  // Read here, not at load: tests import this module without env access.
  // Debian's rustc has the wasm32 standard library; rustup's may not.
  const rustc = Deno.env.get("RUSTC") ?? "/usr/bin/rustc";
  const crate = new URL("early-exit-guest/src/lib.rs", guestDir);
  const out = new URL("early_exit_guest_rust.wasm", guestDir);
  const command = new Deno.Command(rustc, {
    args: [
      "--edition=2021",
      "--crate-type=cdylib",
      "--crate-name=early_exit_guest",
      "--target=wasm32-unknown-unknown",
      "-Copt-level=s",
      "-Cpanic=abort",
      "-Clto",
      "-Cstrip=symbols",
      "-o",
      out.pathname,
      crate.pathname,
    ],
  });
  let result;
  try {
    result = await command.output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.log(
        `skipped the Rust guest: ${rustc} not found (apt-get install rustc libstd-rust-dev-wasm32, or set RUSTC); the committed guest/early_exit_guest_rust.wasm is kept`,
      );
      return;
    }
    throw error;
  }
  if (!result.success) {
    throw new Error(
      `rustc failed:\n${new TextDecoder().decode(result.stderr)}`,
    );
  }
  console.log("built guest/early_exit_guest_rust.wasm");
}

/** The WASI command guests, by source file name in `guest/wasi/`. */
export const WASI_GUESTS: readonly string[] = [
  "hello.c",
  "copy.c",
  "loop.c",
  "sleep.c",
  "sieve.c",
  "hello_rust.rs",
  "sleep_rust.rs",
];

const wasiDir = new URL("wasi/", guestDir);

/**
 * The command that builds a WASI guest from its source. It runs in
 * `guest/wasi/` and names the source relatively, and debug information is
 * stripped, so that no path of the machine that built it ends up in the
 * binary.
 */
function wasiCompiler(source: string, out: string): [string, string[]] {
  if (source.endsWith(".c")) {
    return [Deno.env.get("CC") ?? "clang", [
      "--target=wasm32-wasi",
      "-O2",
      "-Wl,--strip-all",
      "-o",
      out,
      source,
    ]];
  }
  return [Deno.env.get("RUSTC") ?? "/usr/bin/rustc", [
    "--edition=2021",
    "--target=wasm32-wasi",
    "-Copt-level=s",
    "-Cpanic=abort",
    "-Clto",
    "-Ccodegen-units=1",
    "-Cstrip=symbols",
    "-o",
    out,
    source,
  ]];
}

/**
 * Runs `compiler` with `args` in `cwd`. A compiler that is not installed, or
 * whose errors match `absent` (a part of its toolchain for `target` is not),
 * is reported as missing; any other failure throws with its errors.
 */
async function runToolchain(
  compiler: string,
  args: string[],
  cwd: URL,
  source: string,
  toolchain: { absent: RegExp; target: string },
): Promise<{ missing: string } | undefined> {
  let result;
  try {
    result = await new Deno.Command(compiler, { args, cwd }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { missing: `${compiler} not found` };
    }
    throw error;
  }
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr);
    if (toolchain.absent.test(stderr)) {
      return { missing: `${compiler} cannot build for ${toolchain.target}` };
    }
    throw new Error(`${compiler} failed on ${source}:\n${stderr}`);
  }
  return undefined;
}

/**
 * Compiles one WASI guest from its source in `guest/wasi/`.
 *
 * @param source The source's file name, one of {@linkcode WASI_GUESTS}.
 * @returns The module, or a message saying which toolchain is missing.
 */
export async function compileWasiGuest(
  source: string,
): Promise<Uint8Array | { missing: string }> {
  const out = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    const [compiler, args] = wasiCompiler(source, out);
    // Without wasi-libc or Rust's wasm32-wasi std, the toolchain is absent.
    const missing = await runToolchain(compiler, args, wasiDir, source, {
      absent: /wasm32-wasi|stdio\.h|can't find crate|libclang_rt/,
      target: "wasm32-wasi",
    });
    return missing ?? await Deno.readFile(out);
  } finally {
    await Deno.remove(out);
  }
}

/** The committed module of a WASI guest, beside its source. */
export function wasiGuestUrl(source: string): URL {
  return new URL(source.replace(/\.(c|rs)$/, ".wasm"), wasiDir);
}

async function buildWasiGuests(): Promise<void> {
  for (const source of WASI_GUESTS) {
    const bytes = await compileWasiGuest(source);
    const out = wasiGuestUrl(source);
    const name = `guest/wasi/${out.pathname.split("/").pop()}`;
    if (!(bytes instanceof Uint8Array)) {
      console.log(
        `skipped ${name}: ${bytes.missing} (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 rustc libstd-rust-dev-wasm32); the committed module is kept`,
      );
      continue;
    }
    await Deno.writeFile(out, bytes);
    console.log(`built ${name} (${bytes.length} bytes)`);
  }
}

const interpDir = new URL("interp/", guestDir);

/** The committed module of the bytecode interpreter (exports `run(n)`). */
export const INTERPRETER_URL: URL = new URL("interp.wasm", interpDir);

/**
 * Compiles `guest/interp/interp.c`, a switch-dispatch bytecode interpreter,
 * with clang -O2 for bare wasm32 (no libc, no entry point). Like the WASI
 * guests it is built in its own directory from a relative source name and
 * stripped, so that the output is the same on every machine with the same
 * clang.
 *
 * @returns The module, or a message saying which toolchain is missing.
 */
export async function compileInterpreter(): Promise<
  Uint8Array | { missing: string }
> {
  const out = await Deno.makeTempFile({ suffix: ".wasm" });
  const compiler = Deno.env.get("CC") ?? "clang";
  try {
    const args = [
      "--target=wasm32",
      "-O2",
      "-nostdlib",
      "-Wl,--no-entry",
      "-Wl,--strip-all",
      "-o",
      out,
      "interp.c",
    ];
    // Without lld or the wasm32 backend, the toolchain is absent.
    const missing = await runToolchain(compiler, args, interpDir, "interp.c", {
      absent: /wasm-ld|wasm32|unknown target/i,
      target: "wasm32",
    });
    return missing ?? await Deno.readFile(out);
  } finally {
    await Deno.remove(out);
  }
}

async function buildInterpreter(): Promise<void> {
  const bytes = await compileInterpreter();
  if (!(bytes instanceof Uint8Array)) {
    console.log(
      `skipped guest/interp/interp.wasm: ${bytes.missing} (apt-get install clang lld); the committed module is kept`,
    );
    return;
  }
  await Deno.writeFile(INTERPRETER_URL, bytes);
  console.log(`built guest/interp/interp.wasm (${bytes.length} bytes)`);
}

if (import.meta.main) {
  await buildWatGuests();
  await buildRustGuest();
  await buildWasiGuests();
  await buildInterpreter();
}
