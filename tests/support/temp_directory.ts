/** A temporary directory for the length of a test. */

/** Runs `fn` with a fresh temporary directory, removed after. */
export async function withDirectory(
  fn: (directory: string) => Promise<void>,
): Promise<void> {
  const directory = await Deno.makeTempDir();
  try {
    await fn(directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}
