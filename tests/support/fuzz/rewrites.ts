/**
 * The rewrites differential fuzzing compares with the originals, by name:
 * the test suite runs each over a fixed range of seeds, and
 * `tests/fuzz_long.ts --rewrite NAME` over many more.
 *
 * @module
 */

import { DEFAULT_ARRAY_BYTES } from "../../../src/module/limits.ts";
import { instrument } from "../../../src/wasm/instrument.ts";
import { withAddedImports } from "../stop_flag.ts";
import type { Transform } from "./seed.ts";

/** A rewrite to fuzz, made fresh for each run of seeds. */
export interface FuzzRewrite {
  transform: Transform;
  /**
   * For `let-go`: how many times a check answered the flag (a run where
   * few did tested little of what it is for).
   */
  answers?: () => number;
}

/** The rewrites, by the name `--rewrite` takes. */
export const FUZZ_REWRITES: Readonly<Record<string, () => FuzzRewrite>> = {
  /** `instrument`'s defaults: resumable fuel checks. */
  fuel: () => ({ transform: (bytes) => instrument(bytes) }),
  /**
   * A stop flag that is never set, so its checks must change nothing. Every
   * other module counts no fuel; every third one's checks trap (chosen by
   * the module's size, so that a seed run alone is rewritten as in a run of
   * many). Arrays are held to the size a stoppable load holds them to, and
   * the functions dear to compile get the export a stoppable load asks for.
   */
  "stop-flag": () => {
    return {
      transform: (bytes) => {
        const fuel = bytes.length % 2 === 0;
        const stopFlagTraps = bytes.length % 3 === 0;
        return withAddedImports(
          instrument(bytes, {
            stopFlag: true,
            fuel,
            stopFlagTraps,
            arrayBytes: DEFAULT_ARRAY_BYTES,
            precompile: true,
          }),
        );
      },
    };
  },
  /**
   * A stop flag set from the start, which the host lets go at every check:
   * every function entry and loop header answers it, through the slow path
   * where the fuel's check reads the flag too, and the results and the
   * fuel asked for must not change.
   */
  "let-go": () => {
    const letGo = { answers: 0 };
    return {
      transform: (bytes) =>
        withAddedImports(instrument(bytes, { stopFlag: true }), letGo),
      answers: () => letGo.answers,
    };
  },
};
