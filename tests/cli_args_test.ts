import assert from "./support/assert.ts";
import { allRuns, runMain, runMainHere, sameAsProcess } from "./support/cli.ts";
import { assembleWat } from "../guest/build.ts";
import {
  convertArgument,
  joinDashValues,
  parseFuel,
  parseTimeout,
  UsageError,
} from "../src/cli/cli_arguments.ts";
import { parseOptions } from "../src/cli/cli_options.ts";

const I32_RANGE = "a decimal integer from -2147483648 to 4294967295";
const I64_RANGE =
  "a decimal integer from -9223372036854775808 to 18446744073709551615";

function refused(fn: () => unknown, message: string): void {
  assert.throws(fn, UsageError, message);
}

Deno.test("integer arguments: one rule for i32 and i64, decimal with a sign, in range", () => {
  assert.equal(convertArgument("-1", 0, "i32"), -1);
  assert.equal(convertArgument("+7", 0, "i32"), 7);
  assert.equal(convertArgument("4294967295", 0, "i32"), 4294967295);
  assert.equal(convertArgument("-2147483648", 0, "i32"), -2147483648);
  assert.equal(convertArgument("-1", 0, "i64"), -1n);
  assert.equal(
    convertArgument("18446744073709551615", 0, "i64"),
    18446744073709551615n,
  );
  for (const type of ["i32", "i64"]) {
    const range = type === "i32" ? I32_RANGE : I64_RANGE;
    for (const text of ["1e3", "0x10", "1.5", "", " 1", "abc"]) {
      refused(
        () => convertArgument(text, 2, type),
        `--arg ${text}: parameter 2 is ${type}, which takes ${range}`,
      );
    }
  }
  refused(
    () => convertArgument("4294967301", 0, "i32"),
    `parameter 0 is i32, which takes ${I32_RANGE}`,
  );
  refused(
    () => convertArgument("-2147483649", 0, "i32"),
    `parameter 0 is i32, which takes ${I32_RANGE}`,
  );
  refused(
    () => convertArgument("99999999999999999999999", 0, "i64"),
    `parameter 0 is i64, which takes ${I64_RANGE}`,
  );
});

Deno.test("float arguments take decimal numbers, exponents, Infinity and NaN, nothing else", () => {
  assert.equal(convertArgument("-1.5", 0, "f64"), -1.5);
  assert.equal(convertArgument("2e10", 0, "f32"), 2e10);
  assert.equal(convertArgument("-Infinity", 0, "f64"), -Infinity);
  assert.ok(Number.isNaN(convertArgument("NaN", 0, "f64")));
  for (const text of ["0x10", "", "1,5", "one"]) {
    refused(
      () => convertArgument(text, 0, "f64"),
      "parameter 0 is f64, which takes a decimal number",
    );
  }
  refused(
    () => convertArgument("1", 0, "externref"),
    "parameter 0 is externref, which the command line cannot pass",
  );
});

Deno.test("--fuel takes a whole number, 1e6 included; --timeout a number 0 or more", () => {
  assert.equal(parseFuel("1e6"), 1_000_000);
  assert.equal(parseFuel("250"), 250);
  assert.equal(parseFuel(undefined), undefined);
  for (const text of ["-1", "1.5", "Infinity", "1e300", "lots"]) {
    refused(() => parseFuel(text), `--fuel ${text}: expected a whole number`);
  }
  assert.equal(parseTimeout("2.5"), 2.5);
  assert.equal(parseTimeout("3000000000"), 3_000_000_000);
  for (const text of ["-5", "NaN", "Infinity", "soon"]) {
    refused(
      () => parseTimeout(text),
      `--timeout ${text}: expected a number of milliseconds, 0 or more`,
    );
  }
});

Deno.test("an option's value may start with a dash", () => {
  assert.deepEqual(
    joinDashValues(["--arg", "-1", "--fuel", "-2", "--arg", "3", "--json"]),
    ["--arg=-1", "--fuel=-2", "--arg", "3", "--json"],
  );
  assert.deepEqual(joinDashValues(["--arg", "--json"]), ["--arg", "--json"]);
});

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], pattern);
}

async function withGuests(
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/typed.wasm`,
      await assembleWat(`(module
        (func (export "neg") (param i32) (result i32)
          (i32.sub (i32.const 0) (local.get 0)))
        (func (export "wide") (param i64) (result i64) (local.get 0))
        (func (export "same") (param f64) (result f64) (local.get 0)))`),
    );
    await Deno.writeFile(
      `${dir}/logs.wasm`,
      await assembleWat(`(module
        (import "env" "log" (func $log (param i32)))
        (func (export "run") (result i32) (call $log (i32.const 41)) (i32.const 42)))`),
    );
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("CLI: a result of -0 is shown as -0, in text and in JSON", async () => {
  await withGuests(async (dir) => {
    const args = [`${dir}/typed.wasm`, "--invoke", "same", "--arg", "-0"];
    const text = await sameAsProcess(args);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, "same returned: -0\nSuccess!\n");
    const json = await runMainHere([...args, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const record = JSON.parse(json.stdout);
    assert.equal(record.value, "-0");
    assert.equal(record.message, "same returned -0");
  });
});

Deno.test("CLI: --arg -1 is a negative number, and a value out of range is one line, exit 2", async () => {
  await withGuests(async (dir) => {
    const neg = await sameAsProcess([
      `${dir}/typed.wasm`,
      "--invoke",
      "neg",
      "--arg",
      "-1",
    ]);
    assert.equal(neg.code, 0, neg.stderr);
    assert.equal(neg.stdout, "neg returned: 1\nSuccess!\n");

    const wrapped = await runMainHere([
      `${dir}/typed.wasm`,
      "--invoke",
      "neg",
      "--arg",
      "4294967301",
    ]);
    assert.equal(wrapped.code, 2);
    assert.equal(wrapped.stdout, "");
    assertOneLine(
      wrapped.stderr,
      /--arg 4294967301: parameter 0 is i32, which takes a decimal integer from -2147483648 to 4294967295/,
    );

    const fuel = await runMainHere([
      `${dir}/typed.wasm`,
      "--invoke",
      "neg",
      "--arg",
      "1",
      "--fuel",
      "-1",
    ]);
    assert.equal(fuel.code, 2);
    assertOneLine(fuel.stderr, /--fuel -1: expected a whole number/);

    // A guest that fills the heap ends out_of_memory here as in code
    // (tests/cli_out_of_memory_test.ts), so it may be expected.
    const memory = await runMainHere([
      `${dir}/typed.wasm`,
      "--invoke",
      "neg",
      "--arg",
      "1",
      "--expect",
      "out_of_memory",
    ]);
    assert.equal(memory.code, 1);
    assertOneLine(memory.stderr, /^neg did not error. Returned the value: -1$/);
  });
});

Deno.test("CLI --json: usage and load errors are one JSON object on stdout, exit 2", async () => {
  await withGuests(async (dir) => {
    const cases: [string[], Record<string, unknown>][] = [
      [["--json", "--bogus"], { outcome: "usage_error" }],
      [["--json", "--timeout", "-5"], { outcome: "usage_error" }],
      [[`${dir}/typed.wasm`, "--invoke", "neg", "--arg", "1e3", "--json"], {
        outcome: "usage_error",
      }],
      [[`${dir}/typed.wasm`, "--invoke", "nope", "--json"], {
        outcome: "usage_error",
        error: "ExportError",
      }],
      [[`${dir}/missing.wasm`, "--json"], {
        outcome: "load_error",
        error: "GuestLoadError",
      }],
      [[`${dir}/logs.wasm`, "--invoke", "run", "--json"], {
        outcome: "load_error",
        error: "ImportError",
      }],
    ];
    for (const [i, [args, expected]] of cases.entries()) {
      const run = i === 0 ? await sameAsProcess(args) : await runMainHere(args);
      assert.equal(run.code, 2, args.join(" "));
      assert.equal(run.stderr, "", args.join(" "));
      const lines = run.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 1, run.stdout);
      const record = JSON.parse(lines[0]);
      for (const [key, value] of Object.entries(expected)) {
        assert.equal(record[key], value, `${key} for ${args.join(" ")}`);
      }
      assert.equal(typeof record.message, "string");
    }
  });
});

Deno.test("CLI: a missing import names --imports; --imports MODULE supplies it", async () => {
  await withGuests(async (dir) => {
    const missing = await sameAsProcess([
      `${dir}/logs.wasm`,
      "--invoke",
      "run",
    ]);
    assert.equal(missing.code, 2);
    assertOneLine(
      missing.stderr,
      /guest import env\.log is missing: expected function \(i32\) -> nil; supply it with --imports MODULE/,
    );
    assert.doesNotMatch(missing.stderr, /imports option/);

    await Deno.writeTextFile(
      `${dir}/imports.ts`,
      `export default { env: { log: (n: number) => console.log("log", n) } };\n`,
    );
    const supplied = await runMainHere([
      `${dir}/logs.wasm`,
      "--invoke",
      "run",
      "--imports",
      `${dir}/imports.ts`,
    ]);
    assert.equal(supplied.code, 0, supplied.stderr);
    assert.equal(supplied.stdout, "log 41\nrun returned: 42\nSuccess!\n");

    await Deno.writeTextFile(
      `${dir}/build.ts`,
      `export default (host: { interrupt(name: string): never }) => ({
        env: { log: () => host.interrupt("env.log") },
      });\n`,
    );
    const built = await runMainHere([
      `${dir}/logs.wasm`,
      "--invoke",
      "run",
      "--imports",
      `${dir}/build.ts`,
      "--expect",
      "interrupted",
      "--json",
    ]);
    assert.equal(built.code, 0, built.stderr);
    assert.equal(JSON.parse(built.stdout).outcome, "interrupted");

    const absent = await runMainHere([
      `${dir}/logs.wasm`,
      "--invoke",
      "run",
      "--imports",
      `${dir}/absent.ts`,
    ]);
    assert.equal(absent.code, 2);
    assertOneLine(
      absent.stderr,
      /^error: --imports .*absent\.ts: cannot import it: .*absent\.ts"; check the path/,
    );
  });
});

Deno.test("CLI: an --imports module that fails to load says why in one whole line, with the place in its code", async () => {
  await withGuests(async (dir) => {
    const modules: Record<string, string> = {
      "lines.ts": 'throw new Error("first\\nsecond\\nthird");\n',
      "calls.ts": "const f: any = 1;\nf();\nexport default {};\n",
      "syntax.ts": "export default {\n",
      "needs.ts": 'import "./gone.ts";\nexport default {};\n',
      "values.json": '{ "env": {} }\n',
    };
    for (const [name, text] of Object.entries(modules)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    const expected: Record<string, RegExp> = {
      // Every line of a module's own message, and where it threw.
      "lines.ts":
        /cannot import it: Error: first second third \(at file:.*lines\.ts:1:7\); run with --help/,
      "calls.ts":
        /cannot import it: TypeError: f is not a function \(at file:.*calls\.ts:2:1\); run/,
      "syntax.ts":
        /cannot import it: SyntaxError: Unexpected token .* \(at file:.*syntax\.ts:1:17\); run/,
      // A missing import of the module is not a wrong --imports path.
      "needs.ts":
        /Module not found ".*gone\.ts" \(at file:.*needs\.ts:1:8\); the module imports it: check that import;/,
      "values.json":
        /cannot import it: it is JSON, which holds no functions: give a JavaScript or TypeScript module/,
    };
    for (const [name, pattern] of Object.entries(expected)) {
      const run = await runMainHere([
        `${dir}/logs.wasm`,
        "--invoke",
        "run",
        "--imports",
        `${dir}/${name}`,
      ]);
      assert.equal(run.code, 2, `${name}: ${run.stderr}`);
      assert.equal(run.stdout, "");
      assertOneLine(run.stderr, pattern);
      // Deno's own code and the command line's are not the user's to read.
      assert.doesNotMatch(run.stderr, /ext:|main\.ts|cli_imports/);
      assert.ok(!run.stderr.includes("\u001b"), run.stderr);
    }
  });
});

Deno.test("CLI: an empty guest path or --imports is a usage error that says so", async () => {
  for (
    const [args, pattern] of [
      [
        [""],
        /^error: the guest's path is empty: name a \.wasm file, or leave the guest out to run the bundled one;/,
      ],
      [
        ["--imports="],
        /^error: --imports needs a module whose default export is the guest's imports, such as --imports \.\/imports\.ts; got an empty name;/,
      ],
    ] as const
  ) {
    const run = await runMainHere([...args]);
    assert.equal(run.code, 2, run.stderr);
    assertOneLine(run.stderr, pattern);
  }
});

Deno.test("CLI: --version and -V print the version deno.json gives the package", async () => {
  const { version } = JSON.parse(await Deno.readTextFile("deno.json"));
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const flag of ["--version", "-V"]) {
    const run = await runMainHere([flag]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `early-exit ${version}\n`);
    assert.equal(run.stderr, "");
  }
});

Deno.test("CLI: a timeout longer than a timer holds leaks no runtime warning", async () => {
  await withGuests(async (dir) => {
    const run = await runMain(["--allow-read"], [
      `${dir}/typed.wasm`,
      "--invoke",
      "wide",
      "--arg",
      "-99",
      "--timeout",
      "3000000000",
    ]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(run.stdout, "wide returned: -99\nSuccess!\n");
  });
});

Deno.test("CLI: an --imports module whose function throws, returns no object, leaves a module null or cannot be looked at is a usage error", async () => {
  await withGuests(async (dir) => {
    const modules: [string, string, RegExp][] = [
      [
        "throws.ts",
        `export default () => { throw new Error("not ready"); };\n`,
        /its default export, a function, threw: Error: not ready; fix the function/,
      ],
      [
        "number.ts",
        `export default () => 5;\n`,
        /what its default export returned must be an object of import modules.*; got number 5/,
      ],
      [
        "async.ts",
        `export default async () => ({ env: {} });\n`,
        /not a promise: .*must not be async/,
      ],
      [
        "null.ts",
        `export default { env: null };\n`,
        /its module "env" must be an object of that module's imports.*; got null/,
      ],
      [
        "revoked.ts",
        `const { proxy, revoke } = Proxy.revocable({}, {}); revoke();\nexport default proxy;\n`,
        /its default export must be an object of import modules.*looking at it threw TypeError/,
      ],
      [
        "trapping.ts",
        `const fail = () => { throw new Error("trap"); };\nexport default { env: new Proxy({}, { get: fail, has: fail, ownKeys: fail, getOwnPropertyDescriptor: fail }) };\n`,
        /its module "env" cannot be looked at: Error: trap; export a plain object/,
      ],
    ];
    for (const [i, [name, source, expected]] of modules.entries()) {
      await Deno.writeTextFile(`${dir}/${name}`, source);
      for (const json of [[], ["--json"]]) {
        // The first as a process too, the others in this process alone.
        const run =
          await (i === 0 && json.length === 0 ? sameAsProcess : runMainHere)([
            `${dir}/logs.wasm`,
            "--invoke",
            "run",
            "--imports",
            `${dir}/${name}`,
            ...json,
          ]);
        assert.equal(run.code, 2, `${name}: ${run.stderr}`);
        if (json.length === 0) {
          assertOneLine(run.stderr, expected);
          assert.match(run.stderr, /^error: --imports /);
        } else {
          const record = JSON.parse(run.stdout);
          assert.equal(record.outcome, "usage_error", name);
          assert.match(record.message, expected);
        }
      }
    }
  });
});

Deno.test("CLI: a float --arg past its type's range is refused, not made an infinity", () => {
  for (
    const [text, type] of [
      ["1e999", "f64"],
      ["-1e309", "f64"],
      ["1e39", "f32"],
      ["-3.5e38", "f32"],
    ]
  ) {
    assert.throws(
      () => convertArgument(text, 0, type),
      (error) =>
        error instanceof UsageError &&
        error.message.startsWith(
          `--arg ${text}: parameter 0 is ${type}, whose largest finite value is`,
        ) &&
        !error.message.includes("\n"),
    );
  }
  // The largest finite values, and infinities written out, still pass.
  assert.equal(
    convertArgument("1.7976931348623157e308", 0, "f64"),
    Number.MAX_VALUE,
  );
  assert.equal(convertArgument("3.4028235e38", 0, "f32"), 3.4028235e38);
  assert.equal(convertArgument("-Infinity", 0, "f32"), -Infinity);
  assert.equal(convertArgument("1e-999", 0, "f64"), 0);
});

Deno.test("CLI: an option that takes one value, given twice, is refused rather than the first dropped", async () => {
  const fuel = await runMain(["--allow-read"], [
    "guest/compute.wasm",
    "--invoke",
    "fib",
    "--arg",
    "5",
    "--fuel",
    "10",
    "--fuel=1e6",
  ]);
  assert.equal(fuel.code, 2);
  assert.equal(fuel.stdout, "");
  assertOneLine(
    fuel.stderr,
    /^error: --fuel is given 2 times \(10, 1e6\), and it takes one value: give it once/,
  );
});

Deno.test("CLI: a guest whose name starts with a dash, given as an option or after --, gets one line saying to write ./NAME", async () => {
  const [asOption, afterEnd] = await allRuns([
    runMain(["--allow-read"], ["-x.wasm"]),
    runMain(["--allow-read"], ["--", "-x.wasm"]),
  ]);
  assert.equal(asOption.code, 2);
  assertOneLine(
    asOption.stderr,
    /^error: -x\.wasm reads as an option: give a guest whose name starts with a dash as \.\/-x\.wasm/,
  );
  assert.equal(afterEnd.code, 2);
  assertOneLine(
    afterEnd.stderr,
    /^error: no guest was given before --, so the bundled .* runs, .*: give the guest before -- \(a name that starts with a dash as \.\/-x\.wasm\)/,
  );
});

Deno.test("CLI: a guest put after -- is told to come before it, with the command to run", async () => {
  const run = await runMain(["--allow-read"], ["--", "guest/compute.wasm"]);
  assert.equal(run.code, 2);
  assertOneLine(
    run.stderr,
    /^error: no guest was given before --, .*: give the guest before --, as in: main\.ts guest\/compute\.wasm --;/,
  );
});

Deno.test("CLI: an empty --cache is a usage error, not an internal one", () => {
  for (
    const argv of [["--cache", ""], ["--cache="], ["x.wasm", "--cache", ""]]
  ) {
    refused(
      () => parseOptions(argv),
      "--cache needs a directory to keep rewrites in",
    );
  }
  const kept = parseOptions(["x.wasm", "--cache", ".cache"]);
  assert.ok(typeof kept === "object" && kept.cache === ".cache");
});
