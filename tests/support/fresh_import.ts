/**
 * Imports a fresh copy of a module: glue code that keeps its first
 * instance for good (wasm-bindgen's, esbuild's service) gives a new one
 * only from another file, since an import of the same file gives the same
 * module.
 */
export async function importFreshCopy<T>(file: URL | string): Promise<T> {
  const dir = await Deno.makeTempDir();
  const name = String(file).split("/").pop()!;
  const copy = `${dir}/${name}`;
  await Deno.copyFile(file, copy);
  try {
    return await import(`file://${copy}`) as T;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
