/**
 * A restricted unpickler for the opcode subset `torch.save` emits for state dicts. It never executes anything:
 * GLOBAL/STACK_GLOBAL go through a caller-supplied whitelist, and REDUCE/NEWOBJ only call what that returned.
 */
import { SerializationError } from "./types.ts";

/** A callable produced by the global resolver (REDUCE/NEWOBJ call it with the argument tuple). */
export interface PyCallable {
  /** Dotted name, for error messages. */
  readonly qualname: string;
  /** Builds the result from the unpickled arguments. */
  call(args: unknown[]): unknown;
}

/** An object whose BUILD opcode state is applied through `setState` (e.g. OrderedDict metadata). */
export interface PyStateful {
  /** Receives the BUILD state. */
  setState(state: unknown): void;
}

/** Hooks that give the unpickler its meaning: which globals exist and what persistent ids refer to. */
export interface UnpicklerHooks {
  /** Returns the object for `module.name`, or throws if it is not whitelisted. */
  resolveGlobal(module: string, name: string): unknown;
  /** Resolves a persistent id (BINPERSID); absent → persistent ids are an error. */
  persistentLoad?(pid: unknown): unknown;
}

/** Result of one unpickling run: the value and the byte offset just after its STOP opcode. */
export interface UnpickleResult {
  /** The unpickled top-level value. */
  value: unknown;
  /** Offset just after STOP (where a following pickle, if any, starts). */
  end: number;
}

/** Whether `x` is a PyCallable. */
export function isPyCallable(x: unknown): x is PyCallable {
  return typeof x === "object" && x !== null && typeof (x as PyCallable).call === "function" &&
    typeof (x as PyCallable).qualname === "string";
}

const MARK = Symbol("mark");

/** Unpickles one pickle starting at `start` in `bytes`; `file` names the source in errors. */
export function unpickle(
  bytes: Uint8Array,
  hooks: UnpicklerHooks,
  file = "<pickle>",
  start = 0,
): UnpickleResult {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let pos = start;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (msg: string): never => {
    throw new SerializationError(file, `pickle: ${msg}`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) {
      fail(`truncated data (needs ${n} bytes at offset ${pos}, file has ${bytes.length})`);
    }
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), pos += 2, dv.getUint16(pos - 2, true));
  const i32 = () => (need(4), pos += 4, dv.getInt32(pos - 4, true));
  const u32 = () => (need(4), pos += 4, dv.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the file size`);
    return Number(v);
  };
  const take = (n: number) => (need(n), pos += n, bytes.subarray(pos - n, pos));
  const line = () => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail("truncated data (unterminated text line)");
    const s = latin1.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const str = (b: Uint8Array) => {
    try {
      return utf8.decode(b);
    } catch {
      return fail("invalid UTF-8 in string");
    }
  };
  const pop = () => {
    if (stack.length === 0) fail("stack underflow");
    const v = stack.pop();
    if (v === MARK) fail("unexpected MARK on the stack");
    return v;
  };
  const top = () => {
    if (stack.length === 0) fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const items = stack;
    if (metastack.length === 0) fail("no MARK to pop to");
    stack = metastack.pop()!;
    return items;
  };
  const tuple = (items: unknown[]) => Object.freeze(items.slice());
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(`memo key ${i} missing`);
    return memo.get(i);
  };
  const memoPut = (i: number) => memo.set(i, top());
  const call = (fn: unknown, args: unknown, op: string) => {
    if (!isPyCallable(fn)) fail(`${op} on a non-callable (${typeof fn})`);
    if (!Array.isArray(args)) fail(`${op} arguments are not a tuple`);
    return (fn as PyCallable).call(args as unknown[]);
  };
  const setItems = (dict: unknown, kv: unknown[]) => {
    if (!(dict instanceof Map)) fail("SETITEM(S) on a non-dict");
    if (kv.length % 2) fail("SETITEMS with an odd number of items");
    for (let i = 0; i < kv.length; i += 2) (dict as Map<unknown, unknown>).set(kv[i], kv[i + 1]);
  };
  const append = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list) || Object.isFrozen(list)) fail("APPEND(S) on a non-list");
    (list as unknown[]).push(...items);
  };
  const longFrom = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const opPos = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail(`unsupported pickle protocol at offset ${opPos}`);
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP '.'
        if (stack.length !== 1 || metastack.length !== 0) {
          fail(`STOP with ${stack.length} items on the stack`);
        }
        return { value: stack[0], end: pos };
      case 0x28: // MARK '('
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP '0'
        pop();
        break;
      case 0x31: // POP_MARK '1'
        popMark();
        break;
      case 0x32: // DUP '2'
        stack.push(top());
        break;
      case 0x63: { // GLOBAL 'c'
        const module = line();
        const name = line();
        stack.push(hooks.resolveGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        stack.push(hooks.resolveGlobal(module as string, name as string));
        break;
      }
      case 0x71: // BINPUT 'q'
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT 'r'
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET 'h'
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET 'j'
        stack.push(memoGet(u32()));
        break;
      case 0x7d: // EMPTY_DICT '}'
        stack.push(new Map());
        break;
      case 0x64: { // DICT 'd'
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x5d: // EMPTY_LIST ']'
        stack.push([]);
        break;
      case 0x6c: { // LIST 'l'
        const items = popMark(); // (pop before touching `stack`: popMark replaces it)
        stack.push(items);
        break;
      }
      case 0x29: // EMPTY_TUPLE ')'
        stack.push(tuple([]));
        break;
      case 0x74: { // TUPLE 't'
        const items = tuple(popMark());
        stack.push(items);
        break;
      }
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x73: { // SETITEM 's'
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS 'u'
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x61: { // APPEND 'a'
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS 'e'
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x4a: // BININT 'J'
        stack.push(i32());
        break;
      case 0x4b: // BININT1 'K'
        stack.push(u8());
        break;
      case 0x4d: // BININT2 'M'
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longFrom(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail("negative LONG4 length");
        stack.push(longFrom(take(n)));
        break;
      }
      case 0x47: // BINFLOAT 'G' (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE 'X'
        stack.push(str(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(take(u64())));
        break;
      case 0x54: // BINSTRING 'T'
        stack.push(latin1.decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING 'U'
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES 'B'
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES 'C'
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x4e: // NONE 'N'
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x52: { // REDUCE 'R'
        const args = pop(), fn = pop();
        stack.push(call(fn, args, "REDUCE"));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop(), cls = pop();
        stack.push(call(cls, args, "NEWOBJ"));
        break;
      }
      case 0x62: { // BUILD 'b'
        const state = pop();
        const obj = top();
        if (obj instanceof Map) break; // OrderedDict attributes (`_metadata`) are not needed.
        if (typeof obj === "object" && obj !== null && typeof (obj as PyStateful).setState === "function") {
          (obj as PyStateful).setState(state);
          break;
        }
        fail(`BUILD on an unsupported object at offset ${opPos}`);
        break;
      }
      case 0x51: { // BINPERSID 'Q'
        const pid = pop();
        if (!hooks.persistentLoad) fail("persistent id found but no storage resolver");
        stack.push(hooks.persistentLoad!(pid));
        break;
      }
      default: {
        const ch = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : "";
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, "0")}${ch} at offset ${opPos}`);
      }
    }
  }
}
