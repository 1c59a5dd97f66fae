/**
 * A load names a missing import before it reads the guest's code: a guest
 * of 14 MB was refused only after its rewrite and compile, 100 to 400 ms
 * into its load. The guest here has a body that every reading of code
 * refuses (blocks nested past the rewrite's limit), so that the error
 * shows which came first.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { runMain } from "./support/cli.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { encodeLeb, moduleOf, section } from "./support/module_bytes.ts";
import {
  type GuestOptions,
  isImportError,
  isInvalidModule,
  loadGuest,
  runWasi,
} from "../mod.ts";

const encoder = new TextEncoder();
const name = (text: string) => [text.length, ...encoder.encode(text)];

/**
 * A module that imports `module.f` and `module.g` (each `() -> ()`) and
 * exports `run`, whose body nests 70,000 blocks; `extraTypes` more
 * `() -> ()` types make its type section larger.
 */
function deepGuest(
  module: string,
  extraTypes = 0,
): Uint8Array<ArrayBuffer> {
  const depth = 70_000;
  const body = [
    0x00,
    ...Array(depth).fill([0x02, 0x40]).flat(),
    ...Array(depth).fill(0x0b),
    0x0b,
  ];
  return moduleOf(
    section(1, [
      ...encodeLeb(1 + extraTypes),
      ...Array(1 + extraTypes).fill([0x60, 0x00, 0x00]).flat(),
    ]),
    section(2, [
      0x02,
      ...name(module),
      ...name("f"),
      0x00,
      0x00,
      ...name(module),
      ...name("g"),
      0x00,
      0x00,
    ]),
    section(3, [0x01, 0x00]),
    section(7, [0x01, ...name("run"), 0x00, 0x02]),
    section(10, [0x01, ...encodeLeb(body.length), ...body]),
  );
}

const MODES: [string, GuestOptions][] = [
  ["plain", {}],
  ["fuel", { fuel: 1e9 }],
  ["a deadline", { timeout: 60_000 }],
  ["async", { async: true }],
  ["interruptible", { interruptible: true }],
];

Deno.test("a load names a missing import before it reads the guest's code, in every mode", async () => {
  const bytes = deepGuest("env");
  assert.ok(WebAssembly.validate(bytes));
  for (const [mode, options] of MODES) {
    // With its imports, the body is what is refused.
    await assert.rejects(
      loadGuest(bytes, { ...options, imports: { env: { f() {}, g() {} } } }),
      (error) => isInvalidModule(error) && /65535 deep/.test(error.message),
      mode,
    );
    const given: [WebAssembly.Imports, string][] = [
      [{ env: { f() {} } }, "env.g"],
      [{ env: {} }, "env.f"],
      [{}, "env.f"],
    ];
    for (const [imports, missing] of given) {
      await assert.rejects(
        loadGuest(bytes, { ...options, imports }),
        (error) =>
          isImportError(error) && error.importName === missing &&
          /is missing: expected function \(\) -> nil/.test(error.message),
        `${mode}, ${missing} missing`,
      );
    }
  }
});

Deno.test("the early look leaves to the load what it could say otherwise", async () => {
  const bytes = deepGuest("env");
  // An import of the wrong kind before the missing one: the load reads
  // the body first, as before, and would name that import.
  await assert.rejects(
    loadGuest(bytes, { imports: { env: { f: 1 } } }),
    (error) => isInvalidModule(error),
  );
  // A namespace the load refuses, even after a missing import: its
  // refusal comes first, as before.
  const twoModules = moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(2, [
      0x02,
      ...name("a"),
      ...name("f"),
      0x00,
      0x00,
      ...name("b"),
      ...name("g"),
      0x00,
      0x00,
    ]),
  );
  await assert.rejects(
    loadGuest(twoModules, {
      imports: { b: 5 } as unknown as WebAssembly.Imports,
    }),
    (error) => error instanceof TypeError && /\bb\b/.test(error.message),
  );
  // A getter is not run twice: the early look passes it by.
  let reads = 0;
  const env = {
    get f() {
      reads++;
      return () => {};
    },
  };
  await assert.rejects(
    loadGuest(bytes, { imports: { env } }),
    (error) => isInvalidModule(error),
  );
  assert.equal(reads, 0);
  // An imports function is called once, as the imports are built.
  let calls = 0;
  await assert.rejects(
    loadGuest(bytes, {
      imports: () => {
        calls++;
        return {};
      },
    }),
    (error) => isInvalidModule(error),
  );
  assert.equal(calls, 0);
});

Deno.test("past 2 KiB of type and import sections, the early look gives way to the load's own order", async () => {
  // 700 types more: 2,100 bytes of them.
  const bytes = deepGuest("env", 700);
  assert.ok(WebAssembly.validate(bytes));
  await assert.rejects(
    loadGuest(bytes, { imports: { env: { f() {} } } }),
    (error) => isInvalidModule(error) && /65535 deep/.test(error.message),
  );
});

Deno.test("runWasi names an import WASI does not supply before it reads the command's code", () =>
  withDirectory(async (directory) => {
    const path = `${directory}/deep.wasm`;
    await Deno.writeFile(path, deepGuest("env"));
    await assert.rejects(
      runWasi(path),
      (error) =>
        isImportError(error) && error.importName === "env.f" &&
        /not from WASI preview1/.test(error.message),
    );
  }));

Deno.test("the command line names a missing import before it reads the guest's code", () =>
  withDirectory(async (directory) => {
    const path = `${directory}/deep.wasm`;
    await Deno.writeFile(path, deepGuest("env"));
    for (const flags of [[], ["--fuel", "1000000"], ["--timeout", "60000"]]) {
      const run = await runMain([`--allow-read=.,${directory}`], [
        ...flags,
        "--invoke",
        "run",
        path,
      ]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(
        run.stderr,
        /^error: guest import env\.f is missing: expected function \(\) -> nil; supply it with --imports MODULE/,
      );
    }
  }));
