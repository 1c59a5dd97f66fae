/**
 * The assertions every test uses: Node's strict `assert`, which ships inside
 * Deno, standing in for `@std/assert` (JSR is not reachable everywhere this
 * project is built). Swapping it is a change to this one file.
 */
export { default } from "node:assert/strict";
