/**
 * A caller's `URL`, as the host reads it: a URL of the host's own, parsed
 * from the caller's real address (`URL.prototype`'s `href` getter). A URL
 * can carry properties of its own over the real ones (an `href`, `pathname`
 * or `protocol` getter that throws, or names another file): read through
 * the object, those failed a load with their own unbranded error, or made
 * its messages name another file than the one read.
 *
 * @module
 */

const HREF = Object.getOwnPropertyDescriptor(URL.prototype, "href")!
  .get! as (this: URL) => string;

/**
 * The host's own copy of a caller's URL.
 *
 * @example Usage
 * ```ts
 * import { ownUrl } from "./caller_urls.ts";
 * import assert from "node:assert/strict";
 *
 * const given = new URL("file:///data/guest.wasm");
 * Object.defineProperty(given, "pathname", { get: () => "/elsewhere" });
 * assert.equal(ownUrl(given).pathname, "/data/guest.wasm");
 * ```
 */
export function ownUrl(url: URL): URL {
  return new URL(HREF.call(url));
}
