/**
 * Finds the directory of an npm package pinned in deno.json, wherever this
 * Deno keeps it (its npm cache, or `node_modules` when the project uses
 * one), by asking `deno info --json`. Tests and benchmarks use it to read
 * files that packages ship (wasm binaries, CLI scripts).
 */

import { pathToFileURL } from "node:url";

const ROOT = new URL("../", import.meta.url);

interface DenoInfo {
  roots?: string[];
  redirects?: Record<string, string>;
  modules?: { kind?: string; specifier?: string; npmPackage?: string }[];
  npmPackages?: Record<string, { localPath?: string }>;
}

/**
 * The directory of a package pinned in deno.json's imports.
 *
 * @param name The bare name deno.json maps to an `npm:` specifier.
 * @returns A `file:` URL of the package's directory, ending in `/`.
 */
export async function npmPackageDir(name: string): Promise<URL> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", name],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `deno info --json ${name} failed: ${new TextDecoder().decode(stderr)}`,
    );
  }
  const info = JSON.parse(new TextDecoder().decode(stdout)) as DenoInfo;
  const npm = info.modules?.find((m) => m.kind === "npm")?.npmPackage;
  const localPath = npm === undefined
    ? undefined
    : info.npmPackages?.[npm]?.localPath;
  if (localPath !== undefined) {
    const url = pathToFileURL(localPath);
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    return url;
  }
  const local = new URL(`node_modules/${name}/`, ROOT);
  try {
    await Deno.stat(local);
    return local;
  } catch {
    throw new Error(
      `cannot find the directory of npm package "${name}": expected deno info --json to report its localPath, or ${local.pathname} to exist; run "deno install" first`,
    );
  }
}

/**
 * A file inside a pinned npm package, or `undefined` when it cannot be found
 * (for instance without `--allow-run`, which `deno info` needs).
 *
 * @param name The bare name deno.json maps to an `npm:` specifier.
 * @param file The path inside the package.
 * @returns The file's `file:` URL, or `undefined`.
 */
export async function findNpmFile(
  name: string,
  file: string,
): Promise<URL | undefined> {
  try {
    const url = new URL(file, await npmPackageDir(name));
    return (await Deno.stat(url)).isFile ? url : undefined;
  } catch {
    return undefined;
  }
}
