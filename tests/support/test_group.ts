/**
 * One `deno test` module that runs several test files, named in
 * `EARLY_EXIT_TEST_GROUP` (file URLs, one per line): `tests/suite.ts` gives
 * small test files that touch no process-wide state one process and one
 * runtime together, since starting a test runtime costs more CPU than most
 * of them take to run.
 *
 * @module
 */

const listed = Deno.env.get("EARLY_EXIT_TEST_GROUP") ?? "";
for (const file of listed.split("\n").filter((line) => line !== "")) {
  await import(file);
}
