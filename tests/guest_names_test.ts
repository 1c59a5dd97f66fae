/**
 * A guest chooses its import and export names, and a message that names
 * them is printed: by the command line to a terminal, by a host to its
 * log. Whatever the names hold (characters a terminal acts on, text that
 * reorders the line, a megabyte), the message stays one short line; the
 * error's fields keep the names as they are.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  invokeIsolated,
  isExportError,
  isHostImportError,
  isImportError,
  isolatedChildrenExited,
  loadGuest,
} from "../mod.ts";
import {
  concatBytes,
  encodeLeb,
  moduleOf,
  section,
} from "./support/module_bytes.ts";

/**
 * C1 controls (`U+0085` ends a line, `U+009B` starts a terminal's control
 * sequence) and the marks that reorder text shown right to left.
 */
const HIDDEN = "a\u0085b\u009b2Jc\u202ed\u2066e\u200ff\u061cg";
// deno-lint-ignore no-control-regex -- the control characters are the point
const ACTS_ON_TERMINAL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;
const REORDERS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Short enough to read: names are cut, the rest of the line kept. */
const MAX_MESSAGE = 1_000;

function assertShownSafely(message: string): void {
  assert.ok(!ACTS_ON_TERMINAL.test(message), JSON.stringify(message));
  assert.ok(!REORDERS.test(message), JSON.stringify(message));
  assert.ok(message.length <= MAX_MESSAGE, `${message.length} characters`);
}

function name(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [...encodeLeb(bytes.length), ...bytes];
}

/**
 * A module of `() -> ()` functions exported under `exports`, and a function
 * `run` that calls an import `module.field` of the same type.
 */
function guestNamed(
  exports: string[],
  module: string,
  field: string,
): Uint8Array {
  const count = exports.length + 1;
  const run = exports.length;
  return moduleOf(
    section(1, [1, 0x60, 0, 0]),
    section(2, [1, ...name(module), ...name(field), 0, 0]),
    section(3, [...encodeLeb(count), ...Array(count).fill(0)]),
    section(7, [
      ...encodeLeb(count),
      ...exports.flatMap((text, i) => [...name(text), 0, ...encodeLeb(i + 1)]),
      ...name("run"),
      0,
      ...encodeLeb(run + 1),
    ]),
    section(10, [
      ...encodeLeb(count),
      ...Array.from({ length: exports.length }, () => [2, 0, 0x0b]).flat(),
      4,
      0,
      0x10,
      0,
      0x0b,
    ]),
  );
}

Deno.test("names holding C1 controls or marks that reorder the line are escaped in messages", async () => {
  const bytes = guestNamed([HIDDEN], HIDDEN, HIDDEN);
  const missing = await loadGuest(bytes).then(
    () => assert.fail("loaded without its import"),
    (error) => error,
  );
  assert.ok(isImportError(missing), String(missing));
  assertShownSafely(missing.message);
  assert.match(missing.message, /a\\u0085b\\u009b2Jc\\u202ed/);
  assert.equal(missing.importName, `${HIDDEN}.${HIDDEN}`);

  const guest = await loadGuest(bytes, {
    imports: {
      [HIDDEN]: {
        [HIDDEN]: () => {
          throw new Error("no");
        },
      },
    },
  });
  assert.throws(() => guest.invoke("nope"), (error: Error) => {
    assert.ok(isExportError(error), String(error));
    assertShownSafely(error.message);
    return true;
  });
  const result = guest.invoke("run");
  assert.ok(result.outcome === "error" && isHostImportError(result.error));
  assertShownSafely(result.error.message);
});

Deno.test("a megabyte of names makes no megabyte message", async () => {
  const long = (tag: string) => `${tag}${"x".repeat(100_000)}`;
  const exports = Array.from({ length: 10 }, (_, i) => long(`e${i}`));
  const module = long("m"), field = long("f");
  const bytes = guestNamed(exports, module, field);
  const missing = await loadGuest(bytes).then(
    () => assert.fail("loaded without its import"),
    (error) => error,
  );
  assert.ok(isImportError(missing), String(missing));
  assertShownSafely(missing.message);
  // Cut, not lost: the line still says what is wrong and how to fix it.
  assert.match(missing.message, /^guest import mxxx.*characters\).* missing/);
  assert.match(missing.message, /supply it in the imports option$/);
  assert.equal(missing.importName, `${module}.${field}`);

  const guest = await loadGuest(bytes, {
    imports: {
      [module]: {
        [field]: () => {
          throw new Error("no");
        },
      },
    },
  });
  const result = guest.invoke("run");
  assert.ok(result.outcome === "error" && isHostImportError(result.error));
  assertShownSafely(result.error.message);
  assert.equal(result.error.importName, `${module}.${field}`);

  for (const asked of ["nope", long("asked")]) {
    assert.throws(() => guest.invoke(asked), (error: Error) => {
      assert.ok(isExportError(error), String(error));
      assertShownSafely(error.message);
      // The list says how many it leaves out.
      assert.match(error.message, /e0x.*and \d+ more/);
      return true;
    });
  }
});

Deno.test("isolation: an import that throws a huge message is its call's error outcome, as in process", async () => {
  // More than the longest answer the host reads from its child (16 MiB).
  const size = 17 * 1024 * 1024;
  const imports = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      imports,
      `export default { host: { panic() { throw new Error("x".repeat(${size})); } } };`,
    );
    const bytes = concatBytes(guestNamed([], "host", "panic"));
    const result = await invokeIsolated(bytes, "run", [], {
      imports: new URL(`file://${imports}`),
      permissions: { read: [imports] },
      timeout: 60_000,
    });
    assert.equal(result.outcome, "error");
    assert.ok(result.outcome === "error" && isHostImportError(result.error));
    assertShownSafely(result.error.message);
    const cause = result.error.cause as Error;
    assert.ok(cause instanceof Error);
    assert.ok(cause.message.startsWith("xxx"), cause.message.slice(0, 40));
    assert.ok(cause.message.length < size, `${cause.message.length}`);
  } finally {
    await Deno.remove(imports);
    await isolatedChildrenExited();
  }
});

Deno.test("an export's name must be a string, in process and isolated", async () => {
  const bytes = guestNamed(["ok"], "host", "f");
  const guest = await loadGuest(bytes, { imports: { host: { f() {} } } });
  const plain = await loadGuest(bytes, {
    imports: { host: { f() {} } },
    async: true,
  });
  for (const given of [Symbol("ok"), 1, undefined, { toString: () => "ok" }]) {
    const says = /export's name must be a string.*got/;
    assert.throws(
      () => guest.invoke(given as string),
      (error: Error) => isExportError(error) && says.test(error.message),
    );
    assert.throws(
      () => guest.call(given as string),
      (error: Error) => isExportError(error) && says.test(error.message),
    );
    await assert.rejects(
      () => plain.invokeAsync(given as string),
      (error: Error) => isExportError(error) && says.test(error.message),
    );
    await assert.rejects(
      () => invokeIsolated(bytes, given as string),
      (error: Error) => isExportError(error) && says.test(error.message),
    );
  }
});

Deno.test("an export with the empty name is listed as one, not as a stray comma", async () => {
  const guest = await loadGuest(guestNamed(["", "ok"], "host", "f"), {
    imports: { host: { f() {} } },
  });
  assert.throws(
    () => guest.invoke("nope"),
    (error: Error) =>
      isExportError(error) &&
      error.message.endsWith('its function exports are: "", ok, run'),
  );
});
