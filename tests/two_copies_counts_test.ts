/**
 * Two copies of early-exit in one process (one imported from this
 * checkout, one from a copy of `mod.ts` and `src/` in a directory of its
 * own, as a `file:` and an `http:` import would be) count into the same
 * process-wide caps: the memory maps their guests hold, the descriptors
 * their WASI guests hold, and the isolated children they run. Counted per
 * copy, each copy stayed within its cap while the process went past it.
 * Run in a child, so that the counts are the child's alone.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { runDeno } from "./support/cli.ts";
import { bytesExpression } from "./support/small_heap_child.ts";
import { withDirectory } from "./support/temp_directory.ts";

const REPO = new URL("../", import.meta.url);

/** Copies `mod.ts` and `src/` into `directory`, as a second copy. */
async function copyModule(directory: string): Promise<void> {
  await Deno.copyFile(new URL("mod.ts", REPO), `${directory}/mod.ts`);
  const copyTree = async (from: URL, to: string) => {
    await Deno.mkdir(to);
    for await (const entry of Deno.readDir(from)) {
      if (entry.isDirectory) {
        await copyTree(new URL(`${entry.name}/`, from), `${to}/${entry.name}`);
      } else if (entry.isFile) {
        await Deno.copyFile(new URL(entry.name, from), `${to}/${entry.name}`);
      }
    }
  };
  await copyTree(new URL("src/", REPO), `${directory}/src`);
}

/** `f: () -> i32` returning 7, with one memory of its own. */
const ONE_MEMORY = await assembleWat(
  `(module (memory 0) (func (export "f") (result i32) (i32.const 7)))`,
);
/** `run` loops for ever. */
const SPIN = await assembleWat(
  `(module (func (export "run") (loop $l (br $l))))`,
);
/** `run` returns 42. */
const ANSWER = await assembleWat(
  `(module (func (export "run") (result i32) (i32.const 42)))`,
);

interface Report {
  separate: boolean;
  regionsAgree: boolean;
  refusedInB: string;
  refusedInA: string;
  loadedAfter: string;
  descriptorsFullInB: boolean;
  descriptorsAfterClear: number;
  limitSeenByB: number;
  limitBefore: number;
  waitingSeenByA: number;
  spinner: string;
  waiter: string;
  waiterValue: number;
}

Deno.test("two copies of early-exit in one process share its caps: mapped regions, WASI descriptors, and isolated children with their limit and queue", async () => {
  await withDirectory(async (directory) => {
    await copyModule(directory);
    const a = new URL("./", REPO).href;
    const b = new URL(`file://${directory}/`).href;
    const script = `
      const a = await import("${a}mod.ts");
      const b = await import("${b}mod.ts");
      const regionsA = await import("${a}src/module/mapped_regions.ts");
      const regionsB = await import("${b}src/module/mapped_regions.ts");
      const fdsA = await import("${a}src/wasi/wasi_open_descriptors.ts");
      const fdsB = await import("${b}src/wasi/wasi_open_descriptors.ts");
      const childrenA = await import("${a}src/isolate/isolate_children.ts");
      const oneMemory = ${bytesExpression(ONE_MEMORY)};
      const spin = ${bytesExpression(SPIN)};
      const answer = ${bytesExpression(ANSWER)};
      const outcome = (load) => load.then(
        (guest) => guest.call("f") === 7 ? "loaded" : "wrong",
        (error) => error.kind + ": " + error.reason,
      );
      // One copy takes every region left (as async calls' stacks); a load
      // in the other then finds no room.
      const fill = (regions) => {
        let taken = 0;
        while (regions.takeCallStack()) taken++;
        return taken;
      };
      const empty = (regions, taken) => {
        for (let i = 0; i < taken; i++) regions.giveCallStack();
      };
      let taken = fill(regionsA);
      const regionsAgree = regionsA.mappedRegions() === regionsB.mappedRegions();
      const refusedInB = await outcome(b.loadGuest(oneMemory));
      empty(regionsA, taken);
      taken = fill(regionsB);
      const refusedInA = await outcome(a.loadGuest(oneMemory));
      empty(regionsB, taken);
      const loadedAfter = await outcome(b.loadGuest(oneMemory));

      const fds = new fdsA.OpenDescriptors();
      for (let fd = 0; fd < fdsA.MAX_GUEST_DESCRIPTORS; fd++) fds.add(1_000_000 + fd);
      const descriptorsFullInB = fdsB.guestDescriptorsFull();
      fds.clear();
      const descriptorsAfterClear = fdsB.guestDescriptorsHeld();

      // One child at a time, set in one copy: a call in the other waits
      // for the first copy's child, in the queue the first copy sees.
      const limitBefore = a.setIsolatedChildrenLimit(1);
      const limitSeenByB = b.isolatedChildrenLimit();
      const controller = new AbortController();
      const spinning = a.invokeIsolated(spin, "run", [], { signal: controller.signal });
      const waiting = b.invokeIsolated(answer, "run", []);
      const hang = Date.now() + 120_000;
      while (childrenA.isolatedCallsWaiting() === 0 && Date.now() < hang) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const waitingSeenByA = childrenA.isolatedCallsWaiting();
      controller.abort();
      const spinner = (await spinning).outcome;
      const waited = await waiting;
      console.log(JSON.stringify({
        separate: a.loadGuest !== b.loadGuest,
        regionsAgree, refusedInB, refusedInA, loadedAfter,
        descriptorsFullInB, descriptorsAfterClear,
        limitSeenByB, limitBefore, waitingSeenByA, spinner,
        waiter: waited.outcome, waiterValue: waited.value,
      }));
    `;
    const run = await runDeno(["eval", script], {
      signal: AbortSignal.timeout(240_000),
    });
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout.trim()) as Report;
    const seen = JSON.stringify(report);
    assert.equal(report.separate, true, seen);
    assert.equal(report.regionsAgree, true, seen);
    assert.equal(report.refusedInB, "GuestLoadError: limits", seen);
    assert.equal(report.refusedInA, "GuestLoadError: limits", seen);
    assert.equal(report.loadedAfter, "loaded", seen);
    assert.equal(report.descriptorsFullInB, true, seen);
    assert.equal(report.descriptorsAfterClear, 0, seen);
    assert.equal(report.limitSeenByB, 1, seen);
    assert.ok(report.limitBefore >= 4, seen);
    assert.equal(report.waitingSeenByA, 1, seen);
    assert.equal(report.spinner, "aborted", seen);
    assert.equal(report.waiter, "returned", seen);
    assert.equal(report.waiterValue, 42, seen);
  });
});
