/**
 * A guest's types weigh in its instantiation work: the engine decodes and
 * canonicalizes each as it compiles the guest and gives each its runtime
 * type as it instantiates it, neither of which a stop can cut short. A
 * 690 KB guest of 100,000 types, which the engine takes (it takes a
 * million), held a stoppable load's thread for a tenth of a second and more
 * at once; it is refused with `GuestLoadError` (reason `limits`) before the
 * engine sees it, having read no more of its types than the cap.
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
  RUN_WASI_VERDICT,
} from "./support/load_verdicts.ts";

/** The end of a refusal's fix, but in runWasi's, which names no isolation. */
function isolatedHint(place: number): string {
  return place === RUN_WASI_VERDICT
    ? ""
    : ", or run it with invokeIsolated, where a failed instantiation ends only the child process";
}

/** Signed LEB128, for a heap type's index. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n === 0 && (byte & 0x40) === 0) return [...out, byte];
    out.push(byte | 0x80);
  }
}

/** A module of only a type section of these entries. */
function typesModule(
  count: number,
  entry: (index: number) => number[],
): Uint8Array<ArrayBuffer> {
  const body: number[] = [...leb(count)];
  for (let i = 0; i < count; i++) body.push(...entry(i));
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    1,
    ...leb(body.length),
    ...body,
  ]);
}

/**
 * `count` distinct function types, each but the first taking a nullable
 * reference to the one before (so the engine can share none of them).
 */
function chainedTypes(count: number): Uint8Array<ArrayBuffer> {
  return typesModule(
    count,
    (i) => i === 0 ? [0x60, 0, 0] : [0x60, 1, 0x63, ...sleb(i - 1), 0],
  );
}

const w = INSTANTIATION_WEIGHTS;
/** The most types a guest's work allows, with nothing else. */
const MOST = Math.floor(MAX_INSTANTIATION_WORK / w.type);

Deno.test("a guest of 100,000 types is refused by every in-process loader for its instantiation work", async () => {
  const bytes = chainedTypes(100_000);
  for (const [place, verdict] of (await inProcessVerdicts(bytes)).entries()) {
    assert.ok(
      isGuestLoadError(verdict) && verdict.reason === "limits" &&
        /^(bytes|the module) has more than (\d+) types, which weigh more than the (\d+) in instantiation work/
          .test(verdict.message) &&
        verdict.message.includes(`more than ${MOST} types`) &&
        verdict.message.includes(`than the ${MAX_INSTANTIATION_WORK} in`) &&
        verdict.message.endsWith(
          `; give the guest fewer types${isolatedHint(place)}`,
        ),
      String(verdict),
    );
  }
});

Deno.test("a type's parameters, results and fields weigh in too, and a guest within the work loads", async () => {
  // 2,000 struct types of 100 fields each: few types, many values.
  const wide = typesModule(
    2_000,
    () => [0x5f, ...leb(100), ...new Array(100).fill([0x7f, 0]).flat()],
  );
  const work = 2_000 * w.type + 200_000 * w.typeValue;
  assert.ok(work > MAX_INSTANTIATION_WORK);
  for (const [place, verdict] of (await inProcessVerdicts(wide)).entries()) {
    assert.ok(
      isGuestLoadError(verdict) && verdict.reason === "limits" &&
        verdict.message.endsWith(
          `has 2000 types, 200000 values in types, which weigh ${work} in instantiation work, more than the ${MAX_INSTANTIATION_WORK} a guest instantiated in this process may (the engine handles each as it compiles and instantiates the guest, which cannot be stopped); give the guest fewer of them${
            isolatedHint(place)
          }`,
        ),
      String(verdict),
    );
  }
  // Types, each with one value but the first, up to the work's cap.
  const count = Math.floor(MAX_INSTANTIATION_WORK / (w.type + w.typeValue));
  const within = chainedTypes(count);
  assert.ok(WebAssembly.validate(within));
  const guest = await loadGuest(within, { stop: new StopSignal() });
  assert.ok(guest.module instanceof WebAssembly.Module);
  // One more is over it.
  await assert.rejects(
    loadGuest(chainedTypes(count + 1), { stop: new StopSignal() }),
    (error: unknown) =>
      isGuestLoadError(error) &&
      error.message.startsWith(
        `bytes has ${count + 1} types, ${count} values in types, which weigh ${
          (count + 1) * w.type + count * w.typeValue
        } in instantiation work`,
      ),
  );
});
