/**
 * The malformed-input corpus itself (see `support/malformed/corpus.ts`):
 * every module is valid to begin with, and `instrument()` rewrites each into
 * a module V8 accepts.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { buildCorpus } from "./support/malformed/corpus.ts";
import { check } from "./support/malformed/verdict.ts";

Deno.test("the malformed-input corpus instruments cleanly", async () => {
  const corpus = await buildCorpus();
  assert.ok(corpus.length >= 30, `only ${corpus.length} corpus modules`);
  const problems: string[] = [];
  for (const entry of corpus) {
    assert.ok(
      WebAssembly.validate(entry.bytes as BufferSource),
      `${entry.name} is not valid to begin with`,
    );
    const verdict = check(entry.bytes);
    if (verdict.failure || verdict.outcome !== "accepted") {
      problems.push(
        `${entry.name}: ${
          verdict.failure ?? `rejected: ${verdict.disagreement?.detail}`
        }`,
      );
    }
  }
  assert.deepEqual(problems, []);
});
