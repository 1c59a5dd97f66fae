/**
 * Preloaded into a program (`deno run --preload`): announces on stderr each
 * SIGINT listener the program adds, right after adding it.
 */
import { READY_LINE } from "./sigint.ts";

const addSignalListener = Deno.addSignalListener;
Object.defineProperty(Deno, "addSignalListener", {
  value: (signal: Deno.Signal, handler: () => void) => {
    addSignalListener(signal, handler);
    if (signal === "SIGINT") console.error(READY_LINE);
  },
});
