/**
 * The two runs of a script, plain and rewritten: their instances, and how
 * one action is performed on each.
 *
 * @module
 */

import type { Action, Value } from "../wast/mod.ts";
import type { Skip } from "./assembler.ts";
import {
  canHarness,
  fromJs,
  type HarnessFactory,
  needsHarness,
  type Outcome,
  outcomeOf,
  readSlot,
  toJs,
  writeSlot,
} from "./call.ts";
import { BOTTOMLESS, createSpectest } from "./host.ts";
import { exportSignatures, type FuncSignature } from "./signatures.ts";

interface Loaded {
  instance: WebAssembly.Instance;
  signatures: Map<string, FuncSignature> | undefined;
}

export interface Compiled {
  module: WebAssembly.Module;
  bytes: Uint8Array;
  /** The fuel import, on the metered run. */
  fuel?: { module: string; name: string };
  /** The rewriter's other added imports, made fresh for each instance. */
  addedImports?: () => WebAssembly.ModuleImports;
}

/** One run's world: its spectest, registrations and named instances. */
export class Run {
  readonly registry: Record<string, WebAssembly.ModuleImports> = {};
  readonly instances = new Map<string, Loaded>();
  readonly definitions = new Map<string, Compiled>();
  current: Loaded | undefined;
  readonly #onRefill: () => void;

  /** @param onRefill Called each time a metered guest asks for fuel. */
  constructor(onRefill: () => void = () => {}) {
    this.registry.spectest = createSpectest();
    this.#onRefill = onRefill;
  }

  importsFor(compiled: Compiled): WebAssembly.Imports {
    const imports: WebAssembly.Imports = { ...this.registry };
    if (compiled.fuel !== undefined) {
      const { module, name } = compiled.fuel;
      const refill = (): bigint => {
        this.#onRefill();
        return BOTTOMLESS;
      };
      imports[module] = {
        ...imports[module],
        ...compiled.addedImports?.(),
        [name]: refill,
      };
    }
    return imports;
  }

  instantiate(compiled: Compiled, id: string | undefined): Outcome {
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(
        compiled.module,
        this.importsFor(compiled),
      );
    } catch (error) {
      return outcomeOf(error);
    }
    let signatures: Map<string, FuncSignature> | undefined;
    try {
      signatures = exportSignatures(compiled.bytes);
    } catch {
      signatures = undefined;
    }
    this.current = { instance, signatures };
    if (id !== undefined) this.instances.set(id, this.current);
    return { kind: "instance" };
  }

  /** The instance an action names, or the latest one. */
  find(module: string | undefined): Loaded | undefined {
    return module === undefined ? this.current : this.instances.get(module);
  }
}

export function unknownModule(module: string | undefined): Skip {
  return {
    reason: "action names a module never defined",
    detail: module ?? "(current)",
  };
}

/** How an invoke crosses into wasm, decided once for both runs. */
type CallPlan = "direct" | "harness";

export function planCall(
  signature: FuncSignature | undefined,
  args: Value[],
): CallPlan | Skip {
  if (signature === undefined) {
    return args.some((a) => a.type === "v128")
      ? { reason: "v128 argument, signature unknown", detail: "" }
      : "direct";
  }
  const types = [...signature.params, ...signature.results];
  if (types.includes("exnref")) {
    return {
      reason: "exnref in the signature (cannot cross the JS boundary)",
      detail: "",
    };
  }
  if (!needsHarness(signature)) return "direct";
  if (canHarness(signature)) return "harness";
  if (types.includes("v128")) {
    return {
      reason:
        "v128 and reference types in one signature (no JS or harness path)",
      detail: "",
    };
  }
  return "direct";
}

export function perform(
  loaded: Loaded,
  action: Action,
  plan: CallPlan,
  harnesses: HarnessFactory,
): Outcome {
  const exported = loaded.instance.exports[action.name];
  if (action.kind === "get") {
    if (!(exported instanceof WebAssembly.Global)) {
      return {
        kind: "error",
        name: "Missing",
        message: `no global "${action.name}"`,
      };
    }
    try {
      return { kind: "return", results: [fromJs(exported.value, undefined)] };
    } catch (error) {
      return outcomeOf(error);
    }
  }
  if (typeof exported !== "function") {
    return {
      kind: "error",
      name: "Missing",
      message: `no function "${action.name}"`,
    };
  }
  const signature = loaded.signatures?.get(action.name);
  try {
    const harness = plan === "harness" && signature !== undefined
      ? harnesses.for(exported, signature)
      : undefined;
    if (harness !== undefined && signature !== undefined) {
      const view = new DataView(harness.slots.buffer);
      action.args.forEach((arg, i) => writeSlot(view, i, arg));
      harness.call();
      return {
        kind: "return",
        results: signature.results.map((t, i) => readSlot(view, i, t)),
      };
    }
    const returned = (exported as (...args: unknown[]) => unknown)(
      ...action.args.map(toJs),
    );
    const count = signature?.results.length ?? (returned === undefined ? 0 : 1);
    const values = count > 1
      ? returned as unknown[]
      : count === 1
      ? [returned]
      : [];
    return {
      kind: "return",
      results: values.map((v, i) => fromJs(v, signature?.results[i])),
    };
  } catch (error) {
    return outcomeOf(error);
  }
}
