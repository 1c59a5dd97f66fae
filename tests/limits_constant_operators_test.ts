/**
 * The operators of constant expressions of more than one operator weigh in
 * a guest's instantiation work: the engine validates them as it compiles
 * the guest and evaluates them one by one as it instantiates it, and a stop
 * cuts neither short. A 2 MB guest of 100 globals, each an
 * `array.new_fixed` of 10,000 `i32.const` (a million elements, well within
 * what constant expressions may allocate), took 0.4 s to instantiate and
 * held a stoppable load's thread for a tenth of a second and more; such a
 * guest is refused with `GuestLoadError` (reason `limits`) before the
 * engine sees it.
 */

import assert from "./support/assert.ts";
import { isGuestLoadError, loadGuest, StopSignal } from "../mod.ts";
import {
  INSTANTIATION_WEIGHTS,
  MAX_INSTANTIATION_WORK,
} from "../src/module/instantiation_work.ts";
import { encodeLeb as leb } from "./support/module_bytes.ts";
import {
  inProcessVerdicts,
  LOADER_VERDICTS_NAMING_BYTES,
  RUN_WASI_VERDICT,
} from "./support/load_verdicts.ts";

/**
 * `globals` immutable globals of `(ref $a)`, `$a` an `(array i32)`, each
 * `(array.new_fixed $a length (i32.const 7) ...)`, and an export `g` of the
 * first.
 */
function fixedArrays(globals: number, length: number): Uint8Array<ArrayBuffer> {
  const expression = [
    ...new Array(length).fill([0x41, 7]).flat(),
    0xfb,
    0x08,
    0,
    ...leb(length),
    0x0b,
  ];
  const body: number[] = [...leb(globals)];
  for (let i = 0; i < globals; i++) body.push(0x64, 0, 0, ...expression);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[1, 4, 1, 0x5e, 0x7f, 0],
    6,
    ...leb(body.length),
    ...body,
    ...[7, 5, 1, 1, 0x67, 3, 0],
  ]);
}

const w = INSTANTIATION_WEIGHTS;

/** The work of `fixedArrays(globals, length)`. */
function workOf(globals: number, length: number): number {
  return w.type + w.typeValue + w.export +
    globals * (w.evaluatedGlobal + (length + 1) * w.evaluatedOperator);
}

Deno.test("globals of long array.new_fixed expressions are refused by every in-process loader for their instantiation work", async () => {
  // 3 globals of 10,000 elements each: 30,003 operators.
  const bytes = fixedArrays(3, 10_000);
  assert.ok(workOf(3, 10_000) > MAX_INSTANTIATION_WORK);
  const message =
    `has 1 type, 1 value in a type, 3 globals set by an expression, 30003 operators of constant expressions, 1 export, which weigh ${
      workOf(3, 10_000)
    } in instantiation work, more than the ${MAX_INSTANTIATION_WORK} a guest instantiated in this process may`;
  // runWasi's names no invokeIsolated, which runs no WASI command.
  const refused = (label: string, fix: string) => (error: unknown) =>
    isGuestLoadError(error) && error.reason === "limits" &&
    error.message.startsWith(`${label} ${message}`) &&
    error.message.endsWith(`; give the guest fewer of them${fix}`);
  const verdicts = await inProcessVerdicts(bytes);
  verdicts.forEach((verdict, i) =>
    assert.ok(
      refused(
        i < LOADER_VERDICTS_NAMING_BYTES ? "bytes" : "the module",
        i === RUN_WASI_VERDICT
          ? ""
          : ", or run it with invokeIsolated, where a failed instantiation ends only the child process",
      )(verdict),
      `loader ${i}: ${verdict}`,
    )
  );
});

Deno.test("a guest whose constant expressions' operators fit in the work loads, and short expressions weigh their operators too", async () => {
  // One global of 10,000 elements: 10,001 operators.
  const within = fixedArrays(1, 10_000);
  assert.ok(workOf(1, 10_000) <= MAX_INSTANTIATION_WORK);
  const guest = await loadGuest(within, { stop: new StopSignal() });
  assert.ok(guest.instance.exports.g instanceof WebAssembly.Global);
  // 8,000 globals of one element each, two operators apiece, are over it
  // (their globals alone weighed 4,000,000).
  const pairs = fixedArrays(8_000, 1);
  await assert.rejects(
    loadGuest(pairs, { stop: new StopSignal() }),
    (error: unknown) =>
      isGuestLoadError(error) &&
      error.message.includes(
        `8000 globals set by an expression, 16000 operators of constant expressions, 1 export, which weigh ${
          workOf(8_000, 1)
        }`,
      ),
  );
});

/**
 * A memory and `segments` active data segments of one byte, each at an
 * offset of `terms` additions (`i32.const 0`, then `i32.const 0; i32.add`
 * `terms` times), as extended constant expressions allow.
 */
function summedOffsets(
  segments: number,
  terms: number,
): Uint8Array<ArrayBuffer> {
  const offset = [0x41, 0, ...new Array(terms).fill([0x41, 0, 0x6a]).flat()];
  const body: number[] = [...leb(segments)];
  for (let i = 0; i < segments; i++) body.push(0, ...offset, 0x0b, 1, 0x78);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[5, 3, 1, 0, 1],
    11,
    ...leb(body.length),
    ...body,
  ]);
}

Deno.test("data segments whose offsets are long sums weigh their operators: refused loaded plain and stoppable, fitting ones load", async () => {
  // 100 segments of 1,000 additions: 200,100 operators.
  const over = summedOffsets(100, 1_000);
  assert.ok(WebAssembly.validate(over));
  const operators = 100 * (1 + 2 * 1_000);
  const work = operators * w.evaluatedOperator + 100 * w.dataSegment;
  assert.ok(work > MAX_INSTANTIATION_WORK);
  for (const options of [{}, { stop: new StopSignal() }, { timeout: 10_000 }]) {
    await assert.rejects(
      loadGuest(over, options),
      (error: unknown) =>
        isGuestLoadError(error) && error.reason === "limits" &&
        error.message.includes(
          `${operators} operators of constant expressions, 100 data segments, which weigh ${work}`,
        ),
    );
  }
  const within = summedOffsets(2, 1_000);
  const guest = await loadGuest(within, { stop: new StopSignal() });
  assert.ok(guest.instance instanceof WebAssembly.Instance);
});
