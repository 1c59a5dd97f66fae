/**
 * Rebuilds the committed guests: every `guest/*.wat` through wabt, and the
 * Rust crate `early-exit-guest` through rustc for `wasm32-unknown-unknown`.
 *
 * Run it with `deno task build:guest`. The WAT builds are deterministic, and
 * a test checks that the committed `.wasm` files match a fresh build.
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

if (import.meta.main) {
  await buildWatGuests();
  await buildRustGuest();
}
