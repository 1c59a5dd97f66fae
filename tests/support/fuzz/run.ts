/**
 * Running a module: every exported function called with fixed arguments,
 * and what each call returned, threw, logged and left behind.
 *
 * @module
 */

import type {
  ExportDescriptor,
  ModuleSignatures,
} from "../../../src/module/signatures.ts";
import {
  DEFAULT_BUDGET,
  describeValue,
  FuzzHost,
  isHostLimit,
  START_FUEL,
} from "./host.ts";

/** What a module did, export by export. */
export interface RunRecord {
  /** `ok`, or how instantiation failed. */
  instantiation: string;
  /** The log of each export called, in order. */
  calls: Array<{
    name: string;
    events: string[];
    /** The metered side's fuel counter after the call. */
    fuelLeft?: bigint;
    /** The metered side's counter at each import call, by event number. */
    counters?: Map<number, bigint>;
  }>;
  /**
   * Where the run stopped early, if it did: the index in `calls` of the
   * export that hit a limit (its log is not comparable) and why.
   */
  stop?: { at: number; reason: "fuel" | "host limit" };
  /** `out_of_fuel` refills granted in total. */
  refills: number;
  /** Breaches of the `out_of_fuel` contract. */
  contractErrors: string[];
}

/** The metering side of a run: what {@linkcode instrument} returned. */
export interface MeterInfo {
  importModule: string;
  importName: string;
  fuelExport: string;
  /**
   * The rewriter's other imports from `importModule`, made fresh for each
   * instance (the memories a stop flag needs, say).
   */
  addedImports?: () => WebAssembly.ModuleImports;
  /** The export that calls the functions dear to compile, if added. */
  precompile?: { export: string };
}

/** Options for {@linkcode runModule}. */
export interface RunOptions {
  /** Set for the metered module. */
  meter?: MeterInfo;
  /** Fuel one export may use before its run is stopped (metered only). */
  budget?: bigint;
  /** Call at most this many exports. */
  maxCalls?: number;
  /**
   * The fuel counter before each call, by its number (metered only); by
   * default the calls cycle through `START_FUEL`.
   */
  startFuel?: (call: number) => bigint;
}

const CHECKSUM_LIMIT = 1 << 26;

/** A checksum of a memory's bytes (FNV-style over 32-bit words). */
function memoryChecksum(memory: WebAssembly.Memory): string {
  const buffer = memory.buffer;
  if (buffer.byteLength > CHECKSUM_LIMIT) return `${buffer.byteLength} bytes`;
  const words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  let hash = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) {
    hash = Math.imul(hash ^ words[i], 0x01000193);
  }
  return `${buffer.byteLength}:${(hash >>> 0).toString(16)}`;
}

/** The exported state a guest's host can see, as one line. */
function snapshot(
  host: FuzzHost,
  exports: readonly ExportDescriptor[],
  instance: WebAssembly.Instance,
): string {
  const parts: string[] = [];
  for (const entry of exports) {
    const value = instance.exports[entry.name];
    let text: string;
    try {
      if (value instanceof WebAssembly.Global) {
        text = describeValue(value.value);
      } else if (value instanceof WebAssembly.Memory) {
        text = memoryChecksum(value);
      } else if (value instanceof WebAssembly.Table) {
        text = `table[${value.length}]`;
      } else {
        continue;
      }
    } catch (error) {
      text = host.describeError(error);
    }
    parts.push(`${entry.name}=${text}`);
  }
  return `state ${parts.join("; ")}`;
}

/**
 * Instantiates `bytes` under a fresh {@linkcode FuzzHost} and calls every
 * exported function once, in export order, recording what happens.
 *
 * @param bytes The module (metered or not).
 * @param iface The interface of the *original* module: the metered one has
 *   one import and one export more, which the guest's host must not see.
 */
export function runModule(
  bytes: Uint8Array,
  iface: ModuleSignatures,
  options: RunOptions = {},
): RunRecord {
  const host = new FuzzHost();
  host.budget = options.budget ?? DEFAULT_BUDGET;
  const record: RunRecord = {
    instantiation: "ok",
    calls: [],
    refills: 0,
    contractErrors: host.contractErrors,
  };
  const importObject = host.importObject(iface.imports);
  const meter = options.meter;
  if (meter) {
    const added = importObject[meter.importModule] ??= {};
    Object.assign(added, meter.addedImports?.());
    added[meter.importName] = host.outOfFuel;
  }
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(
      new WebAssembly.Module(bytes as BufferSource),
      importObject,
    );
  } catch (error) {
    record.instantiation = host.describeError(error);
    return record;
  }
  host.exports = instance.exports;
  host.exportList = iface.exportList.map((entry) => ({
    value: instance.exports[entry.name],
    signature: entry.signature,
  }));
  const fuel = meter
    ? instance.exports[meter.fuelExport] as WebAssembly.Global
    : undefined;
  if (fuel) host.readCounter = () => fuel.value as bigint;
  const maxCalls = options.maxCalls ?? Infinity;
  for (let index = 0; index < iface.exportList.length; index++) {
    const entry = iface.exportList[index];
    if (entry.kind !== "function") continue;
    if (record.calls.length >= maxCalls) break;
    host.events = [];
    host.counters = new Map();
    const refillsBefore = host.refills;
    host.granted = 0n;
    if (fuel) {
      fuel.value = options.startFuel?.(record.calls.length) ??
        START_FUEL[record.calls.length % START_FUEL.length];
    }
    try {
      const result = host.callExport(index);
      host.events.push(`return ${describeValue(result)}`);
    } catch (error) {
      if (isHostLimit(error)) host.hostLimit = true;
      host.events.push(`throw ${host.describeError(error)}`);
    }
    host.events.push(snapshot(host, iface.exportList, instance));
    record.calls.push({
      name: entry.name,
      events: host.events,
      ...(fuel
        ? { fuelLeft: fuel.value as bigint, counters: host.counters }
        : {}),
    });
    record.refills += host.refills - refillsBefore;
    if (host.fuelExhausted || host.hostLimit) {
      record.stop = {
        at: record.calls.length - 1,
        reason: host.fuelExhausted ? "fuel" : "host limit",
      };
      break;
    }
  }
  return record;
}
