/**
 * Loads each guest file its arguments name as it is (neither fuel nor a
 * deadline), calls its `f`, and prints on its last line, as JSON, how each
 * went: the call's outcome, or the load's error (its kind and message). A
 * guest whose compile ends the process ends this one, not the test's.
 */
import { isInvalidModule, loadGuest } from "../../mod.ts";

const verdicts: { outcome?: string; error?: string; message?: string }[] = [];
for (const path of Deno.args) {
  try {
    const guest = await loadGuest(path);
    verdicts.push({ outcome: guest.invoke("f").outcome });
  } catch (error) {
    verdicts.push({
      error: isInvalidModule(error) ? "InvalidModule" : String(error),
      message: error instanceof Error ? error.message : undefined,
    });
  }
}
console.log(JSON.stringify(verdicts));
