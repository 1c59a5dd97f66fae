/**
 * The rewriter reads a module on the host's thread, before the engine has
 * judged it, so the memory it holds while it reads must stay near the
 * module's size, for inputs the engine would refuse as for valid ones: a
 * counted vector the engine limits is refused at its count, before its
 * items are held, and what is held per item is a few bytes.
 *
 * Each module is rewritten in a subprocess, which reports the growth of its
 * peak resident memory (Linux only: it reads `/proc/self/status`).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";
import {
  type BodyRecord,
  CodePlan,
  Edit,
  REFUND,
  RELOAD,
} from "../src/wasm/code_plan.ts";
import { instrument } from "../src/wasm/instrument.ts";
import {
  type Bytes,
  concatBytes,
  encodeLeb,
  PREAMBLE,
} from "./support/module_bytes.ts";
import { withDirectory } from "./support/temp_directory.ts";

/** How much more than its input the rewriter may hold: generous. */
const MOST_PER_INPUT_BYTE = 30;

/**
 * `pattern` `times` over: written once, then the bytes so far copied after
 * themselves (writing the pattern at each of 12,000,000 places took this
 * file seconds of CPU time).
 */
function repeat(pattern: number[], times: number): Bytes {
  const bytes = new Uint8Array(pattern.length * times);
  if (bytes.length === 0) return bytes;
  bytes.set(pattern);
  for (let filled = pattern.length; filled < bytes.length; filled *= 2) {
    bytes.copyWithin(filled, 0, Math.min(filled, bytes.length - filled));
  }
  return bytes;
}

function section(id: number, contents: Uint8Array): Bytes {
  return concatBytes([id, ...encodeLeb(contents.length)], contents);
}

async function rewriteGrowth(
  bytes: Uint8Array,
  loadOptions?: Record<string, unknown>,
  byUrl = false,
): Promise<{ grew: number; error: string }> {
  let result = { grew: 0, error: "" };
  await withDirectory(async (directory) => {
    const file = `${directory}/guest.wasm`;
    await Deno.writeFile(file, bytes);
    const run = await runDeno([
      "run",
      // Deno reads /proc/self only with every permission.
      "--allow-all",
      "tests/support/rewrite_memory_child.ts",
      file,
      ...(loadOptions === undefined ? [] : [JSON.stringify(loadOptions)]),
      ...(byUrl ? ["url"] : []),
    ]);
    assert.equal(run.code, 0, run.stderr);
    result = JSON.parse(run.stdout);
  });
  return result;
}

const ON_LINUX = Deno.build.os === "linux";

/**
 * A module of two functions of type `[] -> []`: an empty one, and one whose
 * body is `code` (no locals), exported as `f`; and a memory of one page.
 */
function callerModule(code: Uint8Array): Bytes {
  const body = concatBytes([0x00], code, [0x0b]);
  const bodies = concatBytes(
    [0x02, 0x02, 0x00, 0x0b],
    encodeLeb(body.length),
    body,
  );
  return concatBytes(
    PREAMBLE,
    [0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
    [0x03, 0x03, 0x02, 0x00, 0x00],
    [0x05, 0x03, 0x01, 0x00, 0x01],
    [0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x01],
    section(10, bodies),
  );
}

/**
 * Rewrites `bytes`, and tells for each body how many edits its plan held,
 * and how many of them have `flag` (an edit of kind `kind`).
 */
function editsPerBody(
  bytes: Bytes,
  kind: number,
  flag: number,
): { edits: number; flagged: number }[] {
  const bodies: { edits: number; flagged: number }[] = [];
  const addBody = CodePlan.prototype.addBody;
  CodePlan.prototype.addBody = function (body: BodyRecord) {
    let flagged = 0;
    for (let edit = body.editsFrom; edit < this.editCount; edit++) {
      const held = this.kindAt(edit);
      if ((held & 0xf) === kind && (held & flag) !== 0) flagged++;
    }
    bodies.push({ edits: this.editCount - body.editsFrom, flagged });
    return addBody.call(this, body);
  };
  try {
    assert.ok(WebAssembly.validate(instrument(bytes).bytes));
  } finally {
    CodePlan.prototype.addBody = addBody;
  }
  return bodies;
}

Deno.test("a call of a defined function is one edit of the plan, the reload of the fuel after it included", () => {
  // 1,000 times (call 0) (br_if 0 (i32.const 0)): the branch could read
  // the fuel's local, so each call's reload stays. Each call was two
  // edits: its shifted index, and the reload after it.
  const calls = 1000;
  const bytes = callerModule(
    repeat([0x10, 0x00, 0x41, 0x00, 0x0d, 0x00], calls),
  );
  assert.ok(WebAssembly.validate(bytes));
  const bodies = editsPerBody(bytes, Edit.Function, RELOAD);
  assert.equal(bodies.length, 2);
  // Its checks, and one edit per call, which reads the fuel back.
  assert.equal(bodies[1]!.flagged, calls);
  assert.ok(
    bodies[1]!.edits <= calls + 4,
    `the plan held ${bodies[1]!.edits} edits for ${calls} calls`,
  );
});

Deno.test("a memory.grow is one edit of the plan, its charge and the refund after it", () => {
  // 1,000 times (drop (memory.grow (i32.const 0))), each charged by the
  // page and refunded if it fails: two edits each before.
  const grows = 1000;
  const bytes = callerModule(repeat([0x41, 0x00, 0x40, 0x00, 0x1a], grows));
  assert.ok(WebAssembly.validate(bytes));
  const bodies = editsPerBody(bytes, Edit.Dynamic, REFUND);
  assert.equal(bodies[1]!.flagged, grows);
  assert.ok(
    bodies[1]!.edits <= grows + 4,
    `the plan held ${bodies[1]!.edits} edits for ${grows} grows`,
  );
});

Deno.test("the edit list grows by chunks, each allocated once, and reads back every edit", () => {
  // A code section of 1 MiB: chunks of 16,384 edits.
  const plan = new CodePlan(1 << 20, 1);
  const edits = 100_000;
  for (let i = 0; i < edits; i++) plan.pushEdit(i * 2, Edit.Check, i);
  const chunk = 1 << plan.chunkShift;
  assert.equal(plan.chunks.length, Math.ceil(edits / chunk));
  for (const held of plan.chunks) assert.equal(held.length, 3 * chunk);
  for (const edit of [0, chunk - 1, chunk, 3 * chunk + 7, edits - 1]) {
    assert.equal(plan.positionAt(edit), edit * 2);
    assert.equal(plan.kindAt(edit), Edit.Check);
    assert.equal(plan.valueAt(edit), edit);
  }
  // Cut back across chunks, as a body scanned again is: the same chunks
  // take the new edits.
  const kept = plan.chunks.slice();
  plan.editCount = chunk + 5;
  for (let i = 0; i < 3 * chunk; i++) plan.pushEdit(-i, Edit.Sync, 0);
  assert.equal(plan.chunks.length, kept.length);
  plan.chunks.forEach((held, i) => assert.equal(held, kept[i]));
  assert.equal(plan.positionAt(chunk + 5), 0);
  assert.equal(plan.kindAt(4 * chunk + 4), Edit.Sync);
  assert.equal(plan.positionAt(4 * chunk + 4), -(3 * chunk - 1));
  assert.equal(plan.valueAt(chunk + 4), chunk + 4);
});

Deno.test({
  name:
    "a body of 3,000,000 calls of a defined function is read holding under 20 bytes per input byte, then refused",
  ignore: !ON_LINUX,
  async fn() {
    // 6 MB, which held 210 to 250 MB with two edits a call in one array
    // that doubled as it grew; 60 to 70 MB with one edit a call, in chunks.
    // The body is read whole, its edits made, before it is refused for its
    // calls (over MAX_COMPILE_COST), so its hold still counts.
    const bytes = callerModule(repeat([0x10, 0x00], 3_000_000));
    const { grew, error } = await rewriteGrowth(bytes);
    assert.match(
      error,
      /^InvalidModule: function 1 has a compile cost of \d+ \(/,
    );
    assert.ok(
      grew < 20 * bytes.length,
      `the rewriter held ${grew} bytes for a ${bytes.length}-byte input`,
    );
  },
});

Deno.test({
  name: "a million identical function types share one signature as read",
  ignore: !ON_LINUX,
  async fn() {
    // 999,990 times (type (func (param i32) (result i32))), one function
    // and its body: 5 MB, whose rewrite held 330 MB with a signature per
    // type, and a load with fuel 690 MB; 190 MB and 330 MB shared; 95-110
    // MB and 230 MB with the per-type arrays sized by the section's count.
    const types = 999_990;
    const bytes = concatBytes(
      PREAMBLE,
      section(
        1,
        concatBytes(encodeLeb(types), repeat([0x60, 1, 0x7f, 1, 0x7f], types)),
      ),
      [0x03, 0x02, 0x01, 0x00],
      [0x0a, 0x06, 0x01, 0x04, 0x00, 0x20, 0x00, 0x0b],
    );
    assert.ok(WebAssembly.validate(bytes));
    const rewrite = await rewriteGrowth(bytes);
    assert.equal(rewrite.error, "");
    assert.ok(
      rewrite.grew < 160 * 1024 * 1024,
      `the rewrite held ${rewrite.grew} bytes`,
    );
    // A load refuses so many types for its instantiation work, having read
    // no more of them than that work allows.
    const load = await rewriteGrowth(bytes, { fuel: 1e9 });
    assert.match(
      load.error,
      /^GuestLoadError: bytes has more than \d+ types, which weigh more than/,
    );
    assert.ok(
      load.grew < 300 * 1024 * 1024,
      `the load held ${load.grew} bytes`,
    );
  },
});

Deno.test({
  name:
    "a recursion group past the engine's million types is refused at its count, before its types are held",
  ignore: !ON_LINUX,
  async fn() {
    // (rec (type (func)) × 5,000,000): 15 MB, which held 1.1 GB as read.
    const types = 5_000_000;
    const bytes = concatBytes(
      PREAMBLE,
      section(
        1,
        concatBytes(
          [0x01, 0x4e],
          encodeLeb(types),
          repeat([0x60, 0, 0], types),
        ),
      ),
    );
    const { grew, error } = await rewriteGrowth(bytes);
    assert.match(error, /InvalidModule: too many types/);
    assert.ok(
      grew < MOST_PER_INPUT_BYTE * bytes.length,
      `the rewriter held ${grew} bytes for a ${bytes.length}-byte input`,
    );
  },
});

Deno.test({
  name:
    "a valid element segment of ten million function indices is rewritten holding a few bytes per index",
  ignore: !ON_LINUX,
  async fn() {
    // (table 1 funcref) (elem declare func 0 × 10,000,000): 9.5 MB, each
    // index shifted by the added import, which held 740 MB as numbers.
    const entries = 10_000_000;
    const bytes = concatBytes(
      PREAMBLE,
      [0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
      [0x03, 0x02, 0x01, 0x00],
      section(
        9,
        concatBytes(
          [0x01, 0x03, 0x00],
          encodeLeb(entries),
          repeat([0], entries),
        ),
      ),
      [0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b],
    );
    assert.ok(WebAssembly.validate(bytes));
    const { grew, error } = await rewriteGrowth(bytes);
    assert.equal(error, "");
    assert.ok(
      grew < MOST_PER_INPUT_BYTE * bytes.length,
      `the rewriter held ${grew} bytes for a ${bytes.length}-byte input`,
    );
  },
});

/**
 * Vectors the engine limits, each with a count past its limit and as many
 * smallest items as that count: the rewriter held from 20 to 520 MB for
 * them before it refused them, or passed them on to the engine.
 */
const OVER_LIMITS: [string, Bytes, RegExp][] = [
  [
    "3,000,000 tables",
    section(
      4,
      concatBytes(encodeLeb(3_000_000), repeat([0x70, 0, 0], 3_000_000)),
    ),
    /table count 3000000 exceeds the engine's limit of 100000/,
  ],
  [
    "3,000,000 memories",
    section(5, concatBytes(encodeLeb(3_000_000), repeat([0, 0], 3_000_000))),
    /memory count 3000000 exceeds the engine's limit of 100000/,
  ],
  [
    "a function type of 5,000,000 parameters",
    section(
      1,
      concatBytes([1, 0x60], encodeLeb(5_000_000), repeat([0x7f], 5_000_000), [
        0,
      ]),
    ),
    /parameter count 5000000 exceeds the engine's limit of 1000/,
  ],
  [
    "a function type of 5,000,000 results",
    section(
      1,
      concatBytes(
        [1, 0x60, 0],
        encodeLeb(5_000_000),
        repeat([0x7f], 5_000_000),
      ),
    ),
    /result count 5000000 exceeds the engine's limit of 1000/,
  ],
  [
    "a struct type of 2,000,000 fields",
    section(
      1,
      concatBytes(
        [1, 0x5f],
        encodeLeb(2_000_000),
        repeat([0x7f, 0], 2_000_000),
      ),
    ),
    /field count 2000000 exceeds the engine's limit of 10000/,
  ],
  [
    "3,000,000 tags",
    concatBytes(
      [0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
      section(13, concatBytes(encodeLeb(3_000_000), repeat([0, 0], 3_000_000))),
    ),
    /tag count 3000000 exceeds the engine's limit of 1000000/,
  ],
  [
    "3,000,000 data segments",
    concatBytes(
      [0x05, 0x03, 0x01, 0x00, 0x01],
      section(11, concatBytes(encodeLeb(3_000_000), repeat([1, 0], 3_000_000))),
    ),
    /data segment count 3000000 exceeds the engine's limit of 100000/,
  ],
  [
    "an element segment of 12,000,000 function indices",
    concatBytes(
      [0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
      [0x03, 0x02, 0x01, 0x00],
      section(
        9,
        concatBytes(
          [0x01, 0x03, 0x00],
          encodeLeb(12_000_000),
          repeat([0], 12_000_000),
        ),
      ),
      [0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b],
    ),
    /element count 12000000 exceeds the engine's limit of 10000000/,
  ],
];

Deno.test({
  name:
    "vectors past the engine's limits are refused at their counts, before their items are held",
  ignore: !ON_LINUX,
  async fn() {
    for (const [what, sections, refusal] of OVER_LIMITS) {
      const bytes = concatBytes(PREAMBLE, sections);
      assert.ok(!WebAssembly.validate(bytes), what);
      const { grew, error } = await rewriteGrowth(bytes);
      assert.match(error, refusal, what);
      assert.ok(
        grew < 4 * bytes.length,
        `${what}: the rewriter held ${grew} bytes for a ${bytes.length}-byte input`,
      );
    }
  },
});

Deno.test({
  name:
    "blocks typed by a function type of 2,000 values are refused past 4,194,304 values, and never shown to the engine, rewritten or not",
  ignore: !ON_LINUX,
  async fn() {
    // (type $t (func (param i32 × 1000) (result i32 × 1000))) and a body of
    // 1,000 i32.const, then `blocks` times (block (type $t) end): 300 KB
    // for 100,000 blocks, which the engine's validation held 3.1 GB and
    // 2.7 s for, and which the loader compiled again to name the error.
    const values = 1000;
    const guest = (blocks: number) => {
      const type = concatBytes(
        [0x60],
        encodeLeb(values),
        repeat([0x7f], values),
        encodeLeb(values),
        repeat([0x7f], values),
      );
      const code = concatBytes(
        [0x00],
        repeat([0x41, 0x00], values),
        repeat([0x02, 0x01, 0x0b], blocks),
        repeat([0x1a], values),
        [0x0b],
      );
      return concatBytes(
        PREAMBLE,
        section(1, concatBytes([0x02, 0x60, 0x00, 0x00], type)),
        [0x03, 0x02, 0x01, 0x00],
        [0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00],
        section(10, concatBytes([0x01], encodeLeb(code.length), code)),
      );
    };
    const over = guest(100_000);
    for (
      const [load, byUrl] of [
        [undefined],
        [{}],
        [{}, true],
        [{
          timeout: 1000,
        }],
        [{ fuel: 1e9 }],
        [{ fuel: 1e9, limits: { memory: 65536 } }],
        [{ limits: { memory: 65536 } }],
      ] as const
    ) {
      const { grew, error } = await rewriteGrowth(over, load, byUrl);
      assert.match(
        error,
        /InvalidModule: the module's blocks typed by a function type carry more than 4194304 parameters and results together/,
        JSON.stringify(load),
      );
      assert.ok(
        grew < 256 * 1024 * 1024,
        `${JSON.stringify(load)}: the load held ${grew} bytes`,
      );
    }
    // 2,097 such blocks (4,194,000 values) are under the limit, and refused
    // for their compile cost, rewritten or not (each value weighs 2: their
    // first compile took 56 to 73 ms).
    const at = guest(2_097);
    for (const load of [{}, { timeout: 1000 }]) {
      assert.match(
        (await rewriteGrowth(at, load)).error,
        /^InvalidModule: function 0 has a compile cost of \d+ \(/,
      );
    }
  },
});
