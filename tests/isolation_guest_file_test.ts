/**
 * An isolated call of a guest file: the child reads the file itself, given
 * read permission for it alone, and the host reads only its outline (the
 * sections that say what its memories are and whether it has a start
 * function). These tests check that a file gives the outcomes its bytes
 * give, wherever its outline's sections lie, that the child refuses a file
 * that changed since the host looked at it, and the outline itself.
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import {
  invokeIsolated,
  isGuestLoadError,
  isolatedChildrenExited,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import {
  outlineDigest,
  outlineOf,
  readOutline,
} from "../src/load/load_outline.ts";
import { readSections } from "../src/wasm/sections.ts";
import { fromWire, type IsolatedRequest } from "../src/isolate/isolate_wire.ts";
import { startIsolatedChild } from "./support/isolated_child.ts";

/** A custom section named `pad` holding `size` zero bytes. */
function customSection(size: number): Uint8Array {
  const name = [3, 0x70, 0x61, 0x64];
  const content = size + name.length;
  const leb: number[] = [];
  for (let rest = content; leb.length === 0 || rest > 0; rest >>>= 7) {
    leb.push((rest & 0x7f) | (rest > 0x7f ? 0x80 : 0));
  }
  const section = new Uint8Array(1 + leb.length + content);
  section.set([0, ...leb, ...name]);
  return section;
}

/** `bytes` with `section` put right after the preamble. */
function withSectionFirst(bytes: Uint8Array, section: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + section.length);
  out.set(bytes.subarray(0, 8));
  out.set(section, 8);
  out.set(bytes.subarray(8), 8 + section.length);
  return out;
}

/** A guest whose start function spins, with an export `f` that returns 7. */
const SPINNING_START = await wat(`(module
  (func (export "f") (result i32) (i32.const 7))
  (func $start (loop $again (br $again)))
  (start $start))`);

/** A guest with a 2048-page memory and an export `f`. */
const LARGE_MEMORY = await wat(`(module (memory 2048) (func (export "f")))`);

/** A guest that adds its two arguments. */
const ADD = await wat(`(module
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1))))`);

async function inTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "isolation-file" });
  try {
    await body(dir);
  } finally {
    await isolatedChildrenExited();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("isolation, a guest file: its outline is found past a large custom section, as its bytes give it", async () => {
  await inTempDir(async (dir) => {
    // 1 MiB of custom section before the start and memory sections: past
    // the head the host reads at once.
    const pad = customSection(1 << 20);
    const cases = [
      ["plain", ADD],
      ["padded", withSectionFirst(ADD, pad)],
    ] as const;
    for (const [name, bytes] of cases) {
      const path = `${dir}/${name}.wasm`;
      await Deno.writeFile(path, bytes);
      const outcome = await invokeIsolated(path, "add", [2, 3], {
        timeout: 60_000,
      });
      assert.equal(expectOutcome(outcome, "returned").value, 5, name);
    }
    const start = `${dir}/start.wasm`;
    await Deno.writeFile(start, withSectionFirst(SPINNING_START, pad));
    const stopped = await invokeIsolated(start, "f", [], { timeout: 500 });
    assert.equal(stopped.outcome, "timeout");
    assert.equal(stopped.export, "(start)");
    const large = `${dir}/large.wasm`;
    await Deno.writeFile(large, withSectionFirst(LARGE_MEMORY, pad));
    const error = await invokeIsolated(large, "f", [], { maxHeapMiB: 64 })
      .then(() => assert.fail("the guest loaded"), (e) => e);
    assert.ok(isGuestLoadError(error), String(error));
    assert.equal(error.reason, "limits");
    assert.match(
      error.message,
      /^\S+large\.wasm needs memory 0 to start at 134217728 bytes, more than maxHeapMiB allows it \(67108864 bytes\)/,
    );
  });
});

Deno.test("isolation, a guest file: a path with a comma, and a module of many custom sections, are read by the host as before", async () => {
  await inTempDir(async (dir) => {
    const comma = `${dir}/a,b.wasm`;
    await Deno.writeFile(comma, ADD);
    const viaComma = await invokeIsolated(comma, "add", [4, 5], {
      timeout: 60_000,
    });
    assert.equal(expectOutcome(viaComma, "returned").value, 9);
    // 200 custom sections of 4 KiB before the start section: more reads
    // past the head than the outline makes.
    let many: Uint8Array = SPINNING_START;
    for (let i = 0; i < 200; i++) {
      many = withSectionFirst(many, customSection(4096));
    }
    const manyPath = `${dir}/many.wasm`;
    await Deno.writeFile(manyPath, many);
    using file = await Deno.open(manyPath);
    assert.equal(
      await readOutline(file, many.length, "many.wasm"),
      undefined,
    );
    const stopped = await invokeIsolated(manyPath, "f", [], { timeout: 500 });
    assert.equal(stopped.outcome, "timeout");
    assert.equal(stopped.export, "(start)");
  });
});

Deno.test("isolation, a guest file: the outline keeps the type, import, memory and start sections, as they are", async () => {
  await inTempDir(async (dir) => {
    const bytes = withSectionFirst(
      await wat(`(module
        (type (func))
        (import "env" "g" (func (type 0)))
        (memory 3)
        (global i32 (i32.const 1))
        (export "m" (memory 0))
        (func $s)
        (start 1)
        (data (i32.const 0) "abc"))`),
      customSection(100_000),
    );
    const path = `${dir}/outline.wasm`;
    await Deno.writeFile(path, bytes);
    using file = await Deno.open(path);
    const outline = await readOutline(file, bytes.length, "outline.wasm");
    assert.ok(outline !== undefined);
    const kept = [...readSections(outline)].map((s) => s.id);
    assert.deepEqual(kept, [1, 2, 5, 8]);
    const sectionsOf = (module: Uint8Array) =>
      [...readSections(module)]
        .filter((s) => [1, 2, 5, 8].includes(s.id))
        .map((s) => [...module.subarray(s.sectionStart, s.end)]);
    assert.deepEqual(sectionsOf(outline), sectionsOf(bytes));
    // What the child makes of the bytes it read is the same outline.
    assert.deepEqual(outlineOf(bytes), outline);
    assert.deepEqual(outlineOf(outline), outline);
    // A file cut inside a section before the start section is left to the
    // load, which says what is wrong with it; one that is no module is
    // refused as a load refuses it.
    await Deno.writeFile(path, bytes.subarray(0, 50_000));
    using cut = await Deno.open(path);
    assert.equal(await readOutline(cut, 50_000, "outline.wasm"), undefined);
    await Deno.writeFile(path, new TextEncoder().encode("(module)"));
    using text = await Deno.open(path);
    await assert.rejects(
      readOutline(text, 8, "outline.wasm"),
      /outline\.wasm is not a WebAssembly module/,
    );
  });
});

/**
 * Runs the child by hand on a request naming `path` as the module of
 * `moduleBytes` bytes, and gives the outcome its answer reports.
 */
async function childReading(
  path: string,
  moduleBytes: number,
  moduleOutline?: string,
) {
  const child = startIsolatedChild([`--allow-read=${path}`]);
  const output = child.output();
  const request: IsolatedRequest = {
    export: "add",
    args: [1, 2],
    label: "add.wasm",
    answerTag: "answer: ",
    moduleBytes,
    modulePath: path,
    moduleOutline,
  };
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${JSON.stringify(request)}\n`));
  const { stdout } = await output;
  await writer.close().catch(() => {});
  const answer = new TextDecoder().decode(stdout).split("\n")
    .filter((line) => line.startsWith("answer: {"))
    .map((line) => line.slice("answer: ".length));
  assert.equal(answer.length, 1, new TextDecoder().decode(stdout));
  return fromWire(JSON.parse(answer[0]!));
}

Deno.test("isolation, a guest file: the child reads it, and refuses it when its size or outline is not the one the host saw", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/add.wasm`;
    await Deno.writeFile(path, ADD);
    const read = await childReading(path, ADD.length);
    assert.equal(expectOutcome(read, "returned").value, 3);
    for (const size of [ADD.length - 1, ADD.length + 1]) {
      const error = await Promise.resolve().then(() => childReading(path, size))
        .then(() => assert.fail("the child read a changed file"), (e) => e);
      assert.ok(isGuestLoadError(error), String(error));
      assert.equal(error.reason, "io");
      assert.match(
        error.message,
        new RegExp(
          `^cannot read add\\.wasm: it changed while the call loaded it \\((more than )?\\d+ bytes, ${size} when the call began\\); check the file`,
        ),
      );
    }
    // The same size, other types: the outline's digest tells them apart.
    const digest = await outlineDigest(outlineOf(ADD));
    const same = await childReading(path, ADD.length, digest);
    assert.equal(expectOutcome(same, "returned").value, 3);
    const other = await wat(`(module
      (func (export "add") (param i64 i64) (result i64)
        (i64.add (local.get 0) (local.get 1))))`);
    assert.equal(other.length, ADD.length);
    await Deno.writeFile(path, other);
    const changed = await childReading(path, ADD.length, digest)
      .then(() => assert.fail("the child ran a changed file"), (e) => e);
    assert.ok(isGuestLoadError(changed), String(changed));
    assert.match(
      changed.message,
      /^cannot read add\.wasm: it changed while the call loaded it \(its types, imports, memories or start function are not those the host read\)/,
    );
    await Deno.remove(path);
    const gone = await childReading(path, ADD.length)
      .then(() => assert.fail("the child read a removed file"), (e) => e);
    assert.ok(isGuestLoadError(gone), String(gone));
    assert.match(gone.message, /^cannot read add\.wasm: /);
  });
});

Deno.test("isolation, a guest file: the child may read that file, and no other", async () => {
  await inTempDir(async (dir) => {
    const guest = `${dir}/guest.wasm`;
    await Deno.writeFile(guest, ADD);
    await Deno.writeTextFile(`${dir}/secret.txt`, "secret");
    const imports = `${dir}/imports.ts`;
    await Deno.writeTextFile(
      imports,
      `const tried = [];
for (const name of ["guest.wasm", "secret.txt"]) {
  try {
    await Deno.readFile(new URL(name, import.meta.url));
    tried.push(name + " read");
  } catch (error) {
    tried.push(name + " " + error.name);
  }
}
throw new Error(tried.join(", "));
export default {};
`,
    );
    const error = await invokeIsolated(guest, "add", [1, 1], {
      imports,
      timeout: 60_000,
    }).then(() => assert.fail("the imports module did not throw"), (e) => e);
    assert.match(
      String(error.message),
      /guest\.wasm read, secret\.txt NotCapable/,
    );
  });
});
