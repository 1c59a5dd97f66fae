/**
 * What `deno doc` shows a user of each entry point: every export says what it
 * is for and has an example, and no constructor or type meant for the
 * module's own use shows.
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";

interface JsDoc {
  doc?: string;
  tags?: { kind: string }[];
}

interface Declaration {
  kind: string;
  jsDoc?: JsDoc;
  def?: {
    constructors?: { accessibility?: string; jsDoc?: JsDoc }[];
  };
}

interface DocSymbol {
  name: string;
  declarations: Declaration[];
}

/** Names that only the module's own files use; none may be exported. */
const INTERNAL = [
  "GuestParts",
  "assembleGuest",
  "CallState",
  "MeterCalls",
  "meterCalls",
  "meterModule",
  "ZoneWait",
  "MeteredCall",
  "CallWatch",
  "ModuleInfo",
  "Reader",
  "Patches",
];

async function symbols(entry: string): Promise<DocSymbol[]> {
  const run = await runDeno(["doc", "--json", entry]);
  assert.equal(run.code, 0, run.stderr);
  const nodes = JSON.parse(run.stdout).nodes as Record<
    string,
    { symbols: DocSymbol[] }
  >;
  return Object.values(nodes).flatMap((node) => node.symbols);
}

for (const entry of ["mod.ts", "src/wasm/mod.ts"]) {
  Deno.test(`deno doc ${entry}: every export has a purpose, nothing internal shows`, async () => {
    const found = await symbols(entry);
    assert.ok(found.length > 0);
    for (const symbol of found) {
      assert.ok(
        !INTERNAL.includes(symbol.name),
        `${entry} exports the internal ${symbol.name}`,
      );
      for (const declaration of symbol.declarations) {
        const doc = declaration.jsDoc?.doc?.trim() ?? "";
        const example = declaration.jsDoc?.tags?.some((tag) =>
          tag.kind === "example"
        );
        assert.ok(
          doc.length > 0 || example,
          `${entry}: ${symbol.name} has neither a purpose nor an example`,
        );
        assert.ok(example, `${entry}: ${symbol.name} has no @example`);
        for (const constructor of declaration.def?.constructors ?? []) {
          const hidden = constructor.jsDoc?.tags?.some((tag) =>
            tag.kind === "internal" || tag.kind === "ignore"
          );
          assert.ok(
            constructor.accessibility !== "private" && !hidden,
            `${entry}: ${symbol.name} shows a constructor meant to be hidden`,
          );
        }
      }
    }
  });
}

Deno.test("deno doc mod.ts: guests are made by loadGuest, so Guest shows no constructor", async () => {
  const guest = (await symbols("mod.ts")).find((symbol) =>
    symbol.name === "Guest"
  );
  assert.ok(guest !== undefined);
  for (const declaration of guest.declarations) {
    assert.equal(declaration.def?.constructors?.length ?? 0, 0);
  }
});
