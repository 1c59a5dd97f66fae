/**
 * The stop path's warm-up guest, written out as bytes in
 * `src/load/stop_path_warmup.ts`, is the text its comment shows.
 */

import assert from "./support/assert.ts";
import { docWatBytes } from "./support/doc_wat.ts";
import { STOP_PATH_WARM_UP_GUEST } from "../src/load/stop_path_warmup.ts";

Deno.test("the stop path's warm-up guest's bytes are its text, assembled", async () => {
  const source = new URL(
    "../src/load/stop_path_warmup.ts",
    import.meta.url,
  );
  assert.deepEqual(await docWatBytes(source), [...STOP_PATH_WARM_UP_GUEST]);
});
