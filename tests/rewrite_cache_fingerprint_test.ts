import assert from "./support/assert.ts";
import { REWRITER_FINGERPRINT } from "../src/cache/rewriter_fingerprint.ts";
import {
  rewriterFiles,
  rewriterFingerprint,
} from "./support/rewriter_fingerprint.ts";

Deno.test("the rewrite cache's key names the rewriter as its source is now", async () => {
  const now = await rewriterFingerprint();
  assert.equal(
    REWRITER_FINGERPRINT,
    now,
    `the rewriter changed: set REWRITER_FINGERPRINT in src/cache/rewriter_fingerprint.ts to "${now}", so that no cache reads an entry the old one made`,
  );
});

Deno.test("the fingerprint covers the rewriter's whole module graph, and not itself", async () => {
  const files = await rewriterFiles();
  for (
    const file of [
      "src/wasm/instrument.ts",
      "src/wasm/module_rewriter.ts",
      "src/wasm/emit.ts",
      "src/wasm/costs.ts",
      "src/wasm/stop_zones.ts",
    ]
  ) {
    assert.ok(files.includes(file), `${file} is not in ${files.join(", ")}`);
  }
  assert.ok(!files.includes("src/cache/rewriter_fingerprint.ts"));
  assert.ok(!files.includes("src/cache/rewrite_cache.ts"));
});
