/**
 * Lets an async guest's start function ask for fuel.
 *
 * An async guest's `out_of_fuel` import is suspending (JSPI), so that its
 * calls can yield to the event loop. But the start function runs during
 * instantiation, outside any `WebAssembly.promising` call, and V8 throws a
 * `SuspendError` at any call of a suspending import there, even one that
 * would return at once. So the guest imports, instead, a small wasm function
 * that forwards to either the plain or the suspending version of the same
 * host function, chosen by a global: plain while the start function runs,
 * suspending after. The forwarder is wasm, so no JavaScript frame stands
 * between a promising call and the suspending import.
 *
 * @module
 */

import { suspending } from "./fuel.ts";

const I64 = 0x7e;
const I32 = 0x7f;
const FUNC = 0x00;
const GLOBAL = 0x03;
const MUTABLE = 0x01;

function name(text: string): number[] {
  return [text.length, ...new TextEncoder().encode(text)];
}

function section(id: number, body: number[]): number[] {
  return [id, body.length, ...body];
}

function call(index: number): number[] {
  const localGet = 0x20;
  return [localGet, 0, localGet, 1, 0x10, index];
}

/**
 * The forwarder's module, for `out_of_fuel`'s signature (i64, i64) -> i64:
 * `(func (export "call") (param i64 i64) (result i64) (if (result i64)
 * (global.get $suspend) (then (call $suspending ...)) (else (call $plain
 * ...))))`.
 */
function forwarderBytes(): Uint8Array<ArrayBuffer> {
  const body = [
    0x00, // no locals
    ...[0x23, 0], // global.get $suspend
    ...[0x04, I64], // if (result i64)
    ...call(1), // $suspending
    0x05, // else
    ...call(0), // $plain
    0x0b, // end if
    0x0b, // end function
  ];
  const imports = [
    3,
    ...name("b"),
    ...name("plain"),
    ...[FUNC, 0],
    ...name("b"),
    ...name("suspending"),
    ...[FUNC, 0],
    ...name("b"),
    ...name("suspend"),
    ...[GLOBAL, I32, MUTABLE],
  ];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 2, I64, I64, 1, I64]),
    ...section(2, imports),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("call"), FUNC, 2]),
    ...section(10, [1, body.length, ...body]),
  ]);
}

let forwarder: WebAssembly.Module | undefined;

/** Imports that suspend only once {@linkcode StartBridge.suspend} is on. */
export interface StartBridge {
  /** The imports to instantiate the guest with. */
  imports: WebAssembly.Imports;
  /** 1 while the imports may suspend, 0 while the start function runs. */
  suspend: WebAssembly.Global;
}

/**
 * Wraps the meter's plain `out_of_fuel` import(s) in forwarders.
 *
 * @param plain The meter's imports, made without `suspend`.
 * @returns The forwarding imports and the switch, off.
 */
export function bridgeStart(plain: WebAssembly.Imports): StartBridge {
  forwarder ??= new WebAssembly.Module(forwarderBytes());
  const suspend = new WebAssembly.Global({ value: "i32", mutable: true }, 0);
  const imports: WebAssembly.Imports = {};
  for (const [module, fields] of Object.entries(plain)) {
    const bridged: Record<string, WebAssembly.ImportValue> = {};
    for (const [field, fn] of Object.entries(fields)) {
      const instance = new WebAssembly.Instance(forwarder, {
        b: {
          plain: fn,
          suspending: suspending(fn as (...args: never[]) => unknown),
          suspend,
        },
      });
      bridged[field] = instance.exports.call;
    }
    imports[module] = bridged;
  }
  return { imports, suspend };
}
