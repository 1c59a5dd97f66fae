/**
 * The rewriter's decoder refuses what it does not model, whatever flags the
 * engine runs with: an engine flag can make bytes mean more than the
 * rewriter reads, and code it skips wrongly would escape its checks.
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/mod.ts";

/**
 * `(func (loop (drop (i32.atomic.load acqrel (i32.const 0))) (br 0)))` as
 * acquire-release encodes it: memory argument flags with bit 5 set, then an
 * ordering byte before the offset.
 */
const ACQUIRE_RELEASE = [
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00], // type () -> ()
  ...[0x03, 0x02, 0x01, 0x00], // one function
  ...[0x05, 0x04, 0x01, 0x03, 0x01, 0x01], // one shared page
  ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00], // export "f"
  ...[0x0a, 0x11, 0x01, 0x0f, 0x00],
  ...[0x03, 0x40, 0x41, 0x00, 0xfe, 0x10, 0x22, 0x01, 0x00, 0x1a],
  ...[0x0c, 0x00, 0x0b, 0x0b],
];

Deno.test("instrument() refuses memory argument flags the engine rejects by default", () => {
  const bytes = new Uint8Array(ACQUIRE_RELEASE);
  assert.ok(!WebAssembly.validate(bytes), "the engine rejects it by default");
  assert.throws(
    () => instrument(bytes, { validate: false }),
    (error: unknown) =>
      isInvalidModule(error) &&
      /memory argument flags 0x22/.test(error.message),
  );
});

Deno.test("instrument() refuses them under an engine flag that accepts them", async () => {
  const script = `
    import { instrument } from "./src/wasm/mod.ts";
    const bytes = new Uint8Array(${JSON.stringify(ACQUIRE_RELEASE)});
    const accepted = WebAssembly.validate(bytes);
    let refused = "";
    try { instrument(bytes); } catch (error) { refused = String(error); }
    console.log(JSON.stringify({ accepted, refused }));
  `;
  const run = await runDeno([
    "eval",
    "--v8-flags=--experimental-wasm-acquire-release",
    script,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const { accepted, refused } = JSON.parse(run.stdout);
  assert.ok(accepted, "the engine accepts it under the flag");
  assert.match(refused, /InvalidModule.*memory argument flags 0x22/);
});

const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const section = (id: number, contents: number[]) => [
  id,
  contents.length,
  ...contents,
];
const VOID_TYPE = section(1, [0x01, 0x60, 0x00, 0x00]);

/**
 * For each experimental engine flag that changes the binary format, modules
 * the engine accepts under that flag alone, and what the rewriter says when
 * it refuses them. Flags that change no encoding the rewriter reads
 * (`growable-stacks`, `compilation-hints`, `instruction-tracing`,
 * `imported-strings-utf8`, `revectorize`, `js-interop`, the test-only
 * unsafe ones) are left out.
 */
const FLAG_ENCODINGS: Record<string, [string, number[], RegExp][]> = {
  "compact-imports": [
    [
      "a group of imports under one module name, each with its type",
      [
        ...PREAMBLE,
        ...VOID_TYPE,
        ...section(2, [
          ...[0x01, 0x01, 0x6d, 0x00, 0x7f, 0x02],
          ...[0x01, 0x61, 0x00, 0x00, 0x01, 0x62, 0x00, 0x00],
        ]),
      ],
      /unknown import kind 0x7f/,
    ],
    [
      "a group of imports sharing one type",
      [
        ...PREAMBLE,
        ...VOID_TYPE,
        ...section(2, [
          ...[0x01, 0x01, 0x6d, 0x00, 0x7e, 0x00, 0x00],
          ...[0x02, 0x01, 0x61, 0x01, 0x62],
        ]),
      ],
      /unknown import kind 0x7e/,
    ],
  ],
  "shared": [
    [
      "a shared struct type",
      [...PREAMBLE, ...section(1, [0x01, 0x4f, 0x00, 0x65, 0x5f, 0x00])],
      /unknown type form 0x65/,
    ],
    [
      "the pause operator",
      [
        ...PREAMBLE,
        ...VOID_TYPE,
        ...section(3, [0x01, 0x00]),
        ...section(10, [0x01, 0x04, 0x00, 0xfe, 0x04, 0x0b]),
      ],
      /unknown opcode 0xfe 0x04/,
    ],
  ],
  "wasmfx": [
    [
      "a continuation type",
      [...PREAMBLE, ...section(1, [0x02, 0x60, 0x00, 0x00, 0x5d, 0x00])],
      /unknown type form 0x5d/,
    ],
    [
      "a tag whose type has results, defined",
      [
        ...PREAMBLE,
        ...section(1, [0x01, 0x60, 0x00, 0x01, 0x7f]),
        ...section(13, [0x01, 0x00, 0x00]),
      ],
      /tag type 0 has 1 results/,
    ],
    [
      "a tag whose type has results, imported",
      [
        ...PREAMBLE,
        ...section(1, [0x01, 0x60, 0x00, 0x01, 0x7f]),
        ...section(2, [0x01, 0x01, 0x6d, 0x01, 0x74, 0x04, 0x00, 0x00]),
      ],
      /tag type 0 has 1 results/,
    ],
  ],
  "custom-descriptors": [
    [
      "an exact reference type",
      [
        ...PREAMBLE,
        ...section(1, [0x01, 0x5f, 0x00]),
        ...section(6, [0x01, 0x63, 0x62, 0x00, 0x00, 0xd0, 0x71, 0x0b]),
      ],
      /unknown heap type 0x62/,
    ],
    [
      "a type with a descriptor",
      [
        ...PREAMBLE,
        ...section(1, [
          ...[0x01, 0x4e, 0x02, 0x4d, 0x01, 0x5f, 0x00],
          ...[0x4c, 0x00, 0x5f, 0x00],
        ]),
      ],
      /unknown type form 0x4d/,
    ],
  ],
  "stringref": [
    [
      "a stringref global",
      [...PREAMBLE, ...section(6, [0x01, 0x67, 0x00, 0xd0, 0x67, 0x0b])],
      /unknown value type 0x67/,
    ],
  ],
  "wide-arithmetic": [
    [
      "i64.add128",
      [
        ...PREAMBLE,
        ...section(1, [0x01, 0x60, 0x04, 0x7e, 0x7e, 0x7e, 0x7e, 0x00]),
        ...section(3, [0x01, 0x00]),
        ...section(10, [
          ...[0x01, 0x0e, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02],
          ...[0x20, 0x03, 0xfc, 0x13, 0x1a, 0x1a, 0x0b],
        ]),
      ],
      /unknown opcode 0xfc 0x13/,
    ],
  ],
  "fp16": [
    [
      "f16x8.splat",
      [
        ...PREAMBLE,
        ...section(1, [0x01, 0x60, 0x01, 0x7d, 0x01, 0x7b]),
        ...section(3, [0x01, 0x00]),
        ...section(10, [0x01, 0x07, 0x00, 0x20, 0x00, 0xfd, 0xa0, 0x02, 0x0b]),
      ],
      /unknown opcode 0xfd 0x120/,
    ],
    [
      "f32.load_f16",
      [
        ...PREAMBLE,
        ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7d]),
        ...section(3, [0x01, 0x00]),
        ...section(5, [0x01, 0x00, 0x01]),
        ...section(10, [
          0x01,
          0x08,
          0x00,
          0x20,
          0x00,
          0xfc,
          0x30,
          0x01,
          0x00,
          0x0b,
        ]),
      ],
      /unknown opcode 0xfc 0x30/,
    ],
  ],
};

for (const [flag, encodings] of Object.entries(FLAG_ENCODINGS)) {
  Deno.test(`instrument() and loadGuest() refuse what --experimental-wasm-${flag} adds`, async () => {
    for (const [, bytes] of encodings) {
      assert.ok(!WebAssembly.validate(new Uint8Array(bytes)), "not by default");
    }
    const script = `
      import { instrument } from "./src/wasm/mod.ts";
      import { loadGuest } from "./mod.ts";
      const modules = ${JSON.stringify(encodings.map(([, bytes]) => bytes))};
      const verdicts = [];
      for (const list of modules) {
        const bytes = new Uint8Array(list);
        const refusal = async (load) => {
          try { await load(); return ""; } catch (error) { return \`\${error?.kind}: \${error?.message}\`; }
        };
        verdicts.push({
          accepted: WebAssembly.validate(bytes),
          instrument: await refusal(() => instrument(bytes)),
          metered: await refusal(() => loadGuest(bytes, { fuel: 1000 })),
          flagged: await refusal(() => loadGuest(bytes, { interruptible: true })),
        });
      }
      console.log(JSON.stringify(verdicts));
      // Under --experimental-wasm-shared the engine crashes while tearing
      // down the watchdog's thread at a natural exit (SIGSEGV after all
      // output); an explicit exit does not.
      Deno.exit(0);
    `;
    const run = await runDeno([
      "eval",
      `--v8-flags=--experimental-wasm-${flag}`,
      script,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const verdicts = JSON.parse(run.stdout);
    encodings.forEach(([what, , refusal], i) => {
      const verdict = verdicts[i];
      assert.ok(verdict.accepted, `the engine accepts ${what} under the flag`);
      for (const mode of ["instrument", "metered", "flagged"]) {
        assert.match(verdict[mode], /^InvalidModule: /, `${what}, ${mode}`);
        assert.match(verdict[mode], refusal, `${what}, ${mode}`);
      }
    });
  });
}

Deno.test("a shared table is refused, in the table section and among imports", async () => {
  const { applyLimits } = await import("../src/wasm/limits.ts");
  const defined = new Uint8Array([
    ...PREAMBLE,
    ...section(4, [0x01, 0x70, 0x03, 0x01, 0x01]),
  ]);
  const imported = new Uint8Array([
    ...PREAMBLE,
    ...section(2, [0x01, 0x01, 0x6d, 0x01, 0x74, 0x01, 0x70, 0x03, 0x01, 0x01]),
  ]);
  for (const bytes of [defined, imported]) {
    assert.ok(!WebAssembly.validate(bytes));
    for (
      const read of [
        () => instrument(bytes, { validate: false }),
        () => applyLimits(bytes, { tables: 10 }),
      ]
    ) {
      assert.throws(
        read,
        (error: unknown) =>
          isInvalidModule(error) && /a shared table/.test(error.message),
      );
    }
  }
});

Deno.test("instrument() rewrites a shared input as a copy taken once, with the same output", () => {
  // (module (func (export "f") (loop (br 0))))
  const plain = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
    ...[0x03, 0x02, 0x01, 0x00],
    ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00],
    ...[0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b],
  ]);
  const shared = new Uint8Array(new SharedArrayBuffer(plain.length));
  shared.set(plain);
  const fromShared = instrument(shared);
  assert.deepEqual(fromShared.bytes, instrument(plain).bytes);
  assert.ok(!(fromShared.bytes.buffer instanceof SharedArrayBuffer));
  // Writing the shared input afterwards changes nothing already rewritten.
  const before = fromShared.bytes.slice();
  shared.fill(0);
  assert.deepEqual(fromShared.bytes, before);
});

Deno.test("under every experimental engine flag at once, instrument() rewrites only what the engine accepts without flags", async () => {
  // The flags this Deno's V8 has, so that a newer one's are swept too (the
  // profile-guided ones read and write files, and change no encoding).
  const help = await runDeno(["eval", "--v8-flags=--help", ""]);
  const flags = [...help.stdout.matchAll(/--experimental-wasm-[a-z0-9-]+/g)]
    .map(([flag]) => flag).filter((flag) => !flag.includes("-pgo-"));
  assert.ok(flags.length >= 10, help.stdout.slice(0, 200));
  const run = await runDeno([
    "eval",
    `--v8-flags=${[...new Set(flags)].join(",")}`,
    `import { sweep } from "./tests/support/flag_sweep.ts";
     console.log(JSON.stringify(sweep()));
     Deno.exit(0);`,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const { accepted, rewritten, refused } = JSON.parse(run.stdout);
  // The flags make the engine accept more, and all of that is refused.
  assert.ok(refused.length > 100, `${refused.length} refused`);
  assert.equal(accepted, rewritten.length + refused.length);
  for (const text of refused) {
    assert.match(text, /^InvalidModule: [^\n]+$/);
  }
  for (const bytes of rewritten) {
    assert.ok(
      WebAssembly.validate(new Uint8Array(bytes)),
      `rewritten, but only valid under a flag: ${bytes}`,
    );
  }
});

Deno.test("instrument() drops code metadata, whose offsets and function indices the rewrite moves", () => {
  // (func (export "f") (loop (br 0))), then a compilation priority, an
  // instruction frequency and a traced instruction for function 0 (an
  // engine flag reads each), and a producers section, which names no code.
  const custom = (name: string, payload: number[]) => {
    const contents = [name.length, ...new TextEncoder().encode(name)];
    return section(0, [...contents, ...payload]);
  };
  const bytes = new Uint8Array([
    ...PREAMBLE,
    ...VOID_TYPE,
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, 0x01, 0x66, 0x00, 0x00]),
    ...section(10, [0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b]),
    ...custom("metadata.code.compilation_priority", [1, 0, 1, 0, 2, 0, 0]),
    ...custom("metadata.code.instr_freq", [1, 0, 1, 3, 1, 0]),
    ...custom("metadata.code.trace_inst", [1, 0, 1, 3, 4, 1, 2, 3, 4]),
    ...custom("producers", [0]),
  ]);
  assert.ok(WebAssembly.validate(bytes));
  const rewritten = new WebAssembly.Module(instrument(bytes).bytes);
  for (const kind of ["compilation_priority", "instr_freq", "trace_inst"]) {
    const name = `metadata.code.${kind}`;
    assert.equal(
      WebAssembly.Module.customSections(rewritten, name).length,
      0,
      name,
    );
  }
  assert.equal(
    WebAssembly.Module.customSections(rewritten, "producers").length,
    1,
  );
});

Deno.test("a metered rewrite refuses imports from the engine's builtin modules it does not price", () => {
  // (import "wasm:text-decoder" "decodeStringFromUTF8Array" (func $d))
  // (func (call $d)): an engine flag makes it a builtin that walks its
  // array, unpaid.
  const name = (
    text: string,
  ) => [text.length, ...new TextEncoder().encode(text)];
  const bytes = new Uint8Array([
    ...PREAMBLE,
    ...VOID_TYPE,
    ...section(2, [
      0x01,
      ...name("wasm:text-decoder"),
      ...name("decodeStringFromUTF8Array"),
      0x00,
      0x00,
    ]),
    ...section(3, [0x01, 0x00]),
    ...section(10, [0x01, 0x04, 0x00, 0x10, 0x00, 0x0b]),
  ]);
  assert.ok(WebAssembly.validate(bytes));
  assert.throws(
    () => instrument(bytes),
    (error: unknown) =>
      isInvalidModule(error) &&
      /imports from wasm:text-decoder, whose calls would run unpaid/.test(
        error.message,
      ),
  );
  // Without fuel, only the deadline's flag checks bound it, as any import.
  instrument(bytes, { fuel: false, stopFlag: true });
});
