/**
 * What an isolated child prints, read with a cap: the host keeps at most
 * {@linkcode OUTPUT_CAP_BYTES} of each stream however much the child
 * prints, and reads on to the end so that the child never blocks on a full
 * pipe. stdout carries the child's answer after a newline and a tag only
 * the host and the child know; everything else is the child's own output.
 *
 * @module
 */

import { LOADED_MARK } from "./isolate_wire.ts";

/**
 * How much of each of the child's streams is forwarded to the host's: the
 * first MiB of its stdout (without its answer) and of its stderr. The rest
 * is read and dropped, and a note on the host's stderr says so.
 */
export const OUTPUT_CAP_BYTES = 1024 * 1024;

/** The longest answer line the host reads: results and error messages. */
export const ANSWER_CAP_BYTES = 16 * 1024 * 1024;

/** Where output goes: one of the host's streams. */
export interface OutputTarget {
  writeSync(bytes: Uint8Array): number;
}

/**
 * Writes to one of the host's streams, up to the cap. What {@linkcode write}
 * is given waits for {@linkcode flush}, called once a chunk of the child's
 * output has been read through: a child that prints a million empty lines
 * costs the host one write a chunk, not one a line (a million writes held
 * the host's thread for a second, past the call's deadline).
 */
class CappedForward {
  #left = OUTPUT_CAP_BYTES;
  #dropped = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(
    readonly target: OutputTarget,
    readonly name: string,
  ) {}

  write(bytes: Uint8Array): void {
    const kept = bytes.subarray(0, this.#left);
    this.#left -= kept.length;
    this.#dropped += bytes.length - kept.length;
    if (kept.length === 0) return;
    this.#pending.push(kept);
    this.#pendingBytes += kept.length;
  }

  /** Writes what {@linkcode write} was given since the last flush. */
  flush(): void {
    if (this.#pendingBytes === 0) return;
    let bytes = this.#pending[0];
    if (this.#pending.length > 1) {
      bytes = new Uint8Array(this.#pendingBytes);
      let at = 0;
      for (const part of this.#pending) {
        bytes.set(part, at);
        at += part.length;
      }
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    let written = 0;
    try {
      while (written < bytes.length) {
        written += this.target.writeSync(bytes.subarray(written));
      }
    } catch {
      // The host's stream is closed: the child's output has nowhere to go.
    }
  }

  /** Counts bytes dropped elsewhere, for the note {@linkcode close} writes. */
  addDropped(bytes: number): void {
    this.#dropped += bytes;
  }

  /**
   * Writes what is left, and says on the host's stderr how much was
   * dropped, if anything was.
   */
  close(): void {
    this.flush();
    if (this.#dropped === 0) return;
    const note =
      `\n[early-exit: dropped ${this.#dropped} bytes of the isolated child's ${this.name} past the ${
        OUTPUT_CAP_BYTES / 1024 / 1024
      } MiB cap]\n`;
    try {
      Deno.stderr.writeSync(new TextEncoder().encode(note));
    } catch {
      // As above.
    }
  }
}

/**
 * Reads the child's stdout to its end: forwards its own output to the
 * host's stdout, capped, and returns the text after `tag` on the first
 * line that starts with it, or `undefined` when there was none (or it was
 * longer than {@linkcode ANSWER_CAP_BYTES}). `onAnswer` is given the
 * answer as soon as its line is complete, before the stream ends. A tagged
 * line that holds only {@linkcode LOADED_MARK} is no answer: `onLoaded` is
 * called for it. `onTooLong` is given the length of an answer line longer
 * than the cap, which is dropped.
 */
export async function readAnswer(
  stdout: ReadableStream<Uint8Array>,
  tag: string,
  target: OutputTarget = Deno.stdout,
  onAnswer?: (answer: string) => void,
  onLoaded?: () => void,
  onTooLong?: (bytes: number) => void,
): Promise<string | undefined> {
  const forward = new CappedForward(target, "stdout");
  const wanted = new TextEncoder().encode(`\n${tag}`);
  let state: "matching" | "answer" | "output" = "output";
  let matched = 0;
  let parts: Uint8Array[] = [];
  let size = 0;
  let answer: string | undefined;
  for await (const chunk of stdout) {
    let at = 0;
    // The chunk's output from `run` on is forwarded in one piece, when the
    // chunk ends or a tag cuts it short: never a write a line.
    let run = 0;
    // Where in this chunk the text that may be the tag began; -1 when it
    // began in an earlier chunk, whose part of it is held in `matched`.
    let begun = -1;
    while (at < chunk.length) {
      if (state === "matching") {
        if (chunk[at] === wanted[matched]) {
          at++;
          if (++matched === wanted.length) {
            if (begun >= 0) forward.write(chunk.subarray(run, begun));
            state = "answer";
            matched = 0;
            begun = -1;
          }
          continue;
        }
        // What looked like the tag was the start of an ordinary line: in
        // this chunk, it stays in the run; from an earlier one, it is
        // written as it was held.
        if (begun < 0) {
          forward.write(wanted.subarray(0, matched));
          run = at;
        }
        matched = 0;
        begun = -1;
        state = "output";
      }
      if (state === "output") {
        // After the answer, the rest is output, whatever it holds.
        let newline = answer === undefined ? chunk.indexOf(0x0a, at) : -1;
        // A newline the chunk shows is not followed by the tag starts none.
        while (
          newline >= 0 && newline + 1 < chunk.length &&
          chunk[newline + 1] !== wanted[1]
        ) {
          newline = chunk.indexOf(0x0a, newline + 1);
        }
        if (newline < 0) {
          at = chunk.length;
        } else {
          // It may be the newline the child writes before its answer.
          state = "matching";
          begun = newline;
          at = newline;
        }
        continue;
      }
      const newline = chunk.indexOf(0x0a, at);
      const end = newline < 0 ? chunk.length : newline;
      size += end - at;
      if (size <= ANSWER_CAP_BYTES) parts.push(chunk.slice(at, end));
      if (newline >= 0) {
        const line = size <= ANSWER_CAP_BYTES ? decodeAll(parts) : undefined;
        if (line === undefined) onTooLong?.(size);
        else if (line === LOADED_MARK) onLoaded?.();
        else {
          answer = line;
          // What the child printed before its answer is out first.
          forward.flush();
          onAnswer?.(answer);
        }
        parts = [];
        size = 0;
        state = "output";
      }
      at = newline < 0 ? end : newline + 1;
      run = at;
    }
    if (state === "output") forward.write(chunk.subarray(run));
    else if (state === "matching" && begun >= 0) {
      forward.write(chunk.subarray(run, begun));
    }
    forward.flush();
  }
  forward.write(wanted.subarray(0, matched));
  forward.close();
  return answer;
}

function decodeAll(parts: Uint8Array[]): string {
  const decoder = new TextDecoder();
  return parts.map((part) => decoder.decode(part, { stream: true })).join("") +
    decoder.decode();
}

/** What the host learnt from the child's stderr. */
export interface ChildErrors {
  /** The first line Deno starts with `error:`, among the last ones kept. */
  error: string | undefined;
  /** What Deno's panic said, when the child panicked: the line after the panic's. */
  panic: string | undefined;
  /** Whether V8 reported that the child ran out of memory. */
  outOfMemory: boolean;
  /**
   * Whether it did with its heap well below the heap limit: the system
   * refused it memory or address space (see {@linkcode refusedBySystem}).
   */
  refusedBySystem(maxHeapMiB: number | undefined): boolean;
  /**
   * Ends the forwarding: writes what was held back from the first line of a
   * crash report on (see {@linkcode readErrors}) unless `dropReport`, and
   * says how much was dropped past the cap. Called once the child's status
   * is known.
   */
  finish(dropReport: boolean): void;
}

/** How much of the end of the child's stderr is kept to read errors in. */
const ERROR_TAIL_CHARS = 16 * 1024;

/**
 * V8's last words when it reaches its heap limit or cannot allocate, or
 * when the system refuses to unmap part of a mapping: `munmap` splitting a
 * mapping fails only when the process is out of mappings (Linux's
 * `vm.max_map_count`), as a guest with tens of thousands of memories makes
 * it.
 */
const OUT_OF_MEMORY =
  /Fatal (?:JavaScript|process) out of memory|Check failed: 0 == munmap\(/;

/** V8's words when what ran out was its heap limit. */
const HEAP_LIMIT =
  /out of memory: (?:Reached heap limit|Ineffective mark-compacts near heap limit)/;

/**
 * V8's words when the system refused it memory outside the heap: a failed
 * unmap, or a "process" out of memory (its own structures, a reservation).
 */
const SYSTEM_REFUSED =
  /Fatal process out of memory|Check failed: 0 == munmap\(/;

/** A line of V8's last collections: the heap's MB after it, captured. */
const COLLECTION = /-> ([\d.]+) \([\d.]+\) MB/g;

/**
 * The heap limit, in MiB, below which a child's heap is taken to be when
 * the caller set none: V8 sets at least this much on any machine it runs
 * on with a gibibyte of memory.
 */
const LEAST_DEFAULT_HEAP_MIB = 256;

/**
 * Whether a child that ran out of memory did so because the system refused
 * it memory or address space (a guest of thousands of memories reserves
 * it all), rather than at its heap limit. V8 says "Reached heap limit"
 * only in some of the latter; "CALL_AND_RETRY_LAST" comes in both (at a
 * 32 MiB limit, and with 10.7 MB held when address space ran out), so the
 * heap's size after the last collection V8 reported decides there: less
 * than half the limit is not the limit.
 */
function refusedBySystem(
  report: string,
  maxHeapMiB: number | undefined,
): boolean {
  if (HEAP_LIMIT.test(report)) return false;
  if (SYSTEM_REFUSED.test(report)) return true;
  const collections = [...report.matchAll(COLLECTION)];
  const lastHeapMB = collections.at(-1)?.[1];
  const limit = maxHeapMiB ?? LEAST_DEFAULT_HEAP_MIB;
  return lastHeapMB !== undefined && Number(lastHeapMB) < limit / 2;
}

/**
 * The lines a crash report of V8 (or of Deno's panic handler) starts with,
 * each at the start of a line: from the first of them on, the child's
 * stderr is held back until its status is known.
 */
const REPORT_STARTS = [
  "<--- Last few GCs --->",
  "#\n# Fatal ",
  "# Fatal ",
  "Fatal error in ",
  "Fatal JavaScript out of memory",
  "Fatal process out of memory",
  "==== C stack trace",
  // Deno's panic handler writes its banner before the panic's own line,
  // which names the thread's id too since Deno 2.9.
  `${"=".repeat(60)}\nDeno has panicked.`,
  "thread 'main' panicked at ",
  "thread 'main' (",
];

/** A panic's line (with the thread's id or without), then its message's. */
const PANIC_LINE =
  /^thread '[^'\n]*'(?: \(\d+\))? panicked at [^\n]*\n([^\n]*)/m;

/** The longest of {@linkcode REPORT_STARTS}. */
const REPORT_START_CHARS = Math.max(...REPORT_STARTS.map((s) => s.length));

/**
 * How many empty lines before a report's first line are held back with it
 * (V8 writes two before its own).
 */
const HELD_EMPTY_LINES = 4;

/** Bytes as a string of one character a byte, so that offsets agree. */
const BYTE_TEXT = new TextDecoder("latin1");

/** A line that starts a crash report, with the newline before it. */
const REPORT_LINE = new RegExp(
  `(?:^|\\n)(?:${
    REPORT_STARTS.map((start) => start.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("|")
  })`,
  "g",
);

/**
 * Where in `text` a crash report starts (with the empty lines just before
 * it), or -1. `lineStart` says whether `text` starts a line.
 */
function reportStart(text: string, lineStart: boolean): number {
  REPORT_LINE.lastIndex = 0;
  for (let found; (found = REPORT_LINE.exec(text)) !== null;) {
    const at = found[0].startsWith("\n") ? found.index + 1 : found.index;
    if (at > 0 || lineStart) return emptyLinesBefore(text, at, lineStart);
    // Not a line's start: the chunk goes on from the last one's middle.
    REPORT_LINE.lastIndex = 1;
  }
  return -1;
}

/**
 * `at`, moved back over up to {@linkcode HELD_EMPTY_LINES} empty lines;
 * `lineStart` says whether `text` starts a line.
 */
function emptyLinesBefore(
  text: string,
  at: number,
  lineStart: boolean,
): number {
  let lines = 0;
  while (
    lines < HELD_EMPTY_LINES && at >= 1 && text[at - 1] === "\n" &&
    (at >= 2 ? text[at - 2] === "\n" : lineStart)
  ) {
    at--;
    lines++;
  }
  return at;
}

/**
 * Where the end of `text` may be the beginning of a crash report that the
 * next chunk completes: the start of its last line (with the empty lines
 * before it), when that line is a beginning of one of
 * {@linkcode REPORT_STARTS}; or `text.length`.
 */
function unfinishedStart(text: string, lineStart: boolean): number {
  // A report start holds at most one newline ("#\n# Fatal ", the panic
  // banner's).
  let at = text.length;
  for (let lines = 0; lines < 2; lines++) {
    const newline = text.lastIndexOf("\n", at - 2);
    const start = newline < 0 ? (lineStart ? 0 : -1) : newline + 1;
    if (start < 0 || text.length - start >= REPORT_START_CHARS) break;
    const rest = text.slice(start);
    if (REPORT_STARTS.some((s) => s.startsWith(rest))) {
      return emptyLinesBefore(text, start, lineStart);
    }
    if (start === 0) break;
    at = start;
  }
  // Empty lines at the end may come before a report.
  return text.endsWith("\n")
    ? emptyLinesBefore(text, text.length, lineStart)
    : text.length;
}

/**
 * Reads the child's stderr to its end, forwards it to `target` (the host's
 * stderr), capped, and keeps what says why the child failed. From the
 * first line that starts a crash report of V8's (its heap limit reached,
 * a failed check) on, the rest is held back: {@linkcode ChildErrors.finish}
 * drops it when the child died of it out of memory, as the call's outcome
 * says that in one line, and writes it otherwise. What the child printed
 * before goes through as it comes.
 */
export async function readErrors(
  stderr: ReadableStream<Uint8Array>,
  target: OutputTarget = Deno.stderr,
): Promise<ChildErrors> {
  const forward = new CappedForward(target, "stderr");
  const decoder = new TextDecoder();
  let tail = "";
  let outOfMemory = false;
  // Bytes held back: a crash report from its first line on, or the end of
  // a chunk that may begin one.
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  let heldDropped = 0;
  let holding = false;
  // The unfinished end of the last chunk, which may begin a report.
  let pending = new Uint8Array(0);
  let lineStart = true;
  const hold = (bytes: Uint8Array) => {
    const kept = bytes.subarray(0, Math.max(0, OUTPUT_CAP_BYTES - heldBytes));
    held.push(kept);
    heldBytes += kept.length;
    heldDropped += bytes.length - kept.length;
  };
  for await (const chunk of stderr) {
    const text = decoder.decode(chunk, { stream: true });
    // The overlap finds the message across a chunk boundary.
    outOfMemory ||= OUT_OF_MEMORY.test(tail.slice(-64) + text);
    tail = (tail + text).slice(-ERROR_TAIL_CHARS);
    if (holding) {
      hold(chunk);
      continue;
    }
    let bytes = chunk;
    if (pending.length > 0) {
      bytes = new Uint8Array(pending.length + chunk.length);
      bytes.set(pending);
      bytes.set(chunk, pending.length);
    }
    const chars = BYTE_TEXT.decode(bytes);
    const start = reportStart(chars, lineStart);
    if (start >= 0) {
      forward.write(bytes.subarray(0, start));
      forward.flush();
      holding = true;
      pending = new Uint8Array(0);
      hold(bytes.subarray(start));
      continue;
    }
    const end = unfinishedStart(chars, lineStart);
    forward.write(bytes.subarray(0, end));
    forward.flush();
    pending = bytes.slice(end);
    // Held bytes begin a line; otherwise the chunk's last byte says.
    lineStart = pending.length > 0 || chars.endsWith("\n");
  }
  if (pending.length > 0) forward.write(pending);
  forward.flush();
  const error = tail.split("\n").find((line) => line.startsWith("error:"))
    ?.slice("error: ".length);
  const panic = PANIC_LINE.exec(tail)?.[1]?.trim() || undefined;
  let finished = false;
  const finish = (dropReport: boolean) => {
    if (finished) return;
    finished = true;
    if (!dropReport) {
      for (const part of held) forward.write(part);
      forward.addDropped(heldDropped);
    }
    held = [];
    forward.close();
  };
  return {
    error,
    panic,
    outOfMemory,
    // V8's last words, whose causes are read from the kept tail once the
    // child is gone, not from every chunk it wrote while it lived.
    refusedBySystem: (maxHeapMiB) =>
      outOfMemory && refusedBySystem(tail, maxHeapMiB),
    finish,
  };
}
