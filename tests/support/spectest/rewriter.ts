/**
 * The rewriters a spec run compares: what one hands back, and one that changes
 * nothing, for checking the harness itself.
 *
 * @module
 */

/** What a rewriter hands back: the new bytes and the one import it added. */
export interface Rewritten {
  bytes: Uint8Array;
  importModule: string;
  importName: string;
  /**
   * Any other imports the rewriter added, made fresh for each instance
   * (the memories a stop flag needs, say).
   */
  addedImports?: () => WebAssembly.ModuleImports;
}

/** Turns module bytes into metered module bytes. */
export type Rewriter = (bytes: Uint8Array) => Rewritten;

/**
 * A rewriter that changes nothing, for checking the harness itself: with it,
 * any disagreement between the two runs is the harness's fault.
 */
export const identityRewriter: Rewriter = (bytes) => ({
  bytes,
  importModule: "early-exit",
  importName: "out_of_fuel",
});
