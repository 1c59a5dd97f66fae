/**
 * Where the command line writes: stdout, stderr (its own lines and a WASI
 * command's) and the `--json-file` report, with the first write that failed.
 *
 * @module
 */

import { describeThrown } from "../thrown_values.ts";
import { writeReportFile } from "./cli_report_file.ts";

/** A stream the command line writes its lines to. */
export type OutputStream = "stdout" | "stderr";

/** One run's output. */
export class CommandOutput {
  /**
   * The first write to stdout or stderr that failed (a full disk, a pipe
   * whose reader left): the run's report is lost, so it ends with status 2
   * and one line on stderr, if stderr still takes it. A write from inside
   * the guest's call (the interrupt's line) must not throw into the guest.
   */
  lost: string | undefined;

  /**
   * Whether a WASI command's last write to stderr (this process's) ended
   * inside a line: the next line written there starts on a line of its
   * own, so that the guest's text never runs into it (`--json`'s report is
   * the last line, whatever the guest wrote before it).
   */
  #stderrLineOpen = false;

  /** This process's stderr, as a WASI command writes to it. */
  readonly commandStderr = {
    writeSync: (bytes: Uint8Array): number => {
      const written = Deno.stderr.writeSync(bytes);
      if (written > 0) this.#stderrLineOpen = bytes[written - 1] !== 0x0a;
      return written;
    },
    // For a stderr that is a pipe, under a timeout: the write's blocking
    // part on another thread, where a full pipe holds no stop.
    write: async (bytes: Uint8Array): Promise<number> => {
      const written = await Deno.stderr.write(bytes);
      if (written > 0) this.#stderrLineOpen = bytes[written - 1] !== 0x0a;
      return written;
    },
  };

  /** Writes one line to stdout or stderr, recording a failure. */
  say(stream: OutputStream, line: string): void {
    if (stream === "stderr" && this.#stderrLineOpen) {
      line = `\n${line}`;
      this.#stderrLineOpen = false;
    }
    try {
      if (stream === "stdout") console.log(line);
      else console.error(line);
    } catch (error) {
      const why = error instanceof Error
        ? error.message
        : describeThrown(error);
      this.lost ??=
        `cannot write to ${stream}: ${why}; the report is lost: check where ${stream} goes (a full disk, a closed pipe)`;
    }
  }

  /**
   * Writes the run's JSON object: on `stream`, or, with `--json-file`, to
   * that file.
   */
  sayReport(
    stream: OutputStream,
    record: object,
    jsonFile: string | undefined,
  ): void {
    const json = JSON.stringify(record);
    if (jsonFile === undefined) this.say(stream, json);
    else this.lost ??= writeReportFile(jsonFile, json);
  }
}
