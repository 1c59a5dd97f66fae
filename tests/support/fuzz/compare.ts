/**
 * Comparing two runs of a module, export by export and event by event.
 *
 * @module
 */

import type { RunRecord } from "./run.ts";

function clip(event: string): string {
  return event.length > 200 ? `${event.slice(0, 200)}…` : event;
}

/** For two differing `state` events, the entries that differ. */
function stateDifference(a = "", b = ""): string {
  if (!a.startsWith("state ") || !b.startsWith("state ")) return "";
  const left = a.slice(6).split("; ");
  const right = new Set(b.slice(6).split("; "));
  const differ = left.filter((entry) => !right.has(entry));
  return `\n  unmetered state differs in: ${differ.map(clip).join("; ")}`;
}

/** The first difference between two runs, explained. */
export function compareRuns(
  original: RunRecord,
  metered: RunRecord,
): { compared: number; mismatch?: string } {
  if (original.instantiation !== metered.instantiation) {
    return {
      compared: 0,
      mismatch: `instantiation: unmetered ${original.instantiation}, ` +
        `metered ${metered.instantiation}`,
    };
  }
  const limit = Math.min(
    original.stop?.at ?? original.calls.length,
    metered.stop?.at ?? metered.calls.length,
  );
  for (let i = 0; i < limit; i++) {
    const a = original.calls[i];
    const b = metered.calls[i];
    if (!b || a.name !== b.name) {
      return {
        compared: i,
        mismatch: `call #${i}: unmetered called ${a.name}, metered ${b?.name}`,
      };
    }
    const length = Math.max(a.events.length, b.events.length);
    for (let j = 0; j < length; j++) {
      if (a.events[j] === b.events[j]) continue;
      const from = Math.max(0, j - 3);
      const show = (events: string[]) =>
        events.slice(from, j + 2).map(clip).join(" | ") || "(nothing)";
      return {
        compared: i,
        mismatch: `export ${a.name} (call #${i}), event #${j}:\n` +
          `  unmetered: ${show(a.events)}\n` +
          `  metered:   ${show(b.events)}` +
          stateDifference(a.events[j], b.events[j]),
      };
    }
  }
  return { compared: limit };
}
