/**
 * A POSIX shared-memory segment mapped through Deno FFI (libc `shm_open` + `ftruncate` + `mmap`), and futex
 * waits/wakes on 32-bit words inside it. The mapping is exposed as an ordinary `ArrayBuffer` shared by every
 * process that maps the same name: `Atomics.load/add/store/compareExchange` work on it, `Atomics.wait` does not
 * (it is not a SharedArrayBuffer), so blocking goes through `syscall(SYS_futex)`. The waiting variant is a
 * `nonblocking` FFI symbol: the wait runs on a helper thread and the event loop stays free.
 *
 * Needs `--allow-ffi` (unscoped). Linux only (x86_64 and aarch64).
 *
 * @module
 */

import { processAlive as isRunning } from "../../util/process_alive.ts";

const O_RDWR = 0o2;
const O_CREAT = 0o100;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
/** Largest count FUTEX_WAKE accepts: wake every waiter. */
const WAKE_ALL = 0x7fffffff;

/** SYS_futex differs between architectures; these are the two Linux targets Deno ships for. */
const SYS_FUTEX: Record<string, number> = { x86_64: 202, aarch64: 98 };

const LIBC_SYMBOLS = {
  shm_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  shm_unlink: { parameters: ["buffer"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
  // syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3); the variadic call is safe with integer args.
  futex_wait_async: {
    name: "syscall",
    parameters: ["i64", "pointer", "i32", "i32", "buffer", "pointer", "i32"],
    result: "i64",
    nonblocking: true,
  },
  futex_wait_sync: {
    name: "syscall",
    parameters: ["i64", "pointer", "i32", "i32", "buffer", "pointer", "i32"],
    result: "i64",
  },
  futex_wake: {
    name: "syscall",
    parameters: ["i64", "pointer", "i32", "i32", "pointer", "pointer", "i32"],
    result: "i64",
  },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];
let libc: Libc | null = null;

/** Opens libc once per process. Throws with the permission or platform that is missing. */
function lib(): Libc {
  if (libc) return libc;
  if (Deno.build.os !== "linux") {
    throw new Error(`shared memory: only Linux is supported (this is ${Deno.build.os})`);
  }
  if (!(Deno.build.arch in SYS_FUTEX)) {
    throw new Error(`shared memory: unsupported architecture ${Deno.build.arch}`);
  }
  try {
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  } catch (e) {
    throw new Error(
      `shared memory: cannot open libc.so.6 through FFI (run with --allow-ffi): ${(e as Error).message}`,
    );
  }
  return libc;
}

function cString(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

/** errno of the last libc call on this (the JS) thread, as "EXXX message". */
function lastError(): string {
  const c = lib();
  const p = c.__errno_location();
  const errno = p ? new Deno.UnsafePointerView(p).getInt32() : 0;
  const msg = c.strerror(errno);
  return `errno ${errno} (${msg ? Deno.UnsafePointerView.getCString(msg) : "?"})`;
}

/** Normalises a segment name to the POSIX form `/name` (one leading slash, no other slashes). */
export function segmentName(name: string): string {
  const bare = name.replace(/^\/+/, "");
  if (!bare || bare.includes("/") || bare.length > 250) {
    throw new Error(`shared memory: invalid segment name "${name}"`);
  }
  return "/" + bare;
}

/** A mapped shared-memory segment. `buffer` stays valid until `close()`. */
export class SharedSegment {
  /** The POSIX name (with leading slash). */
  readonly name: string;
  /** Size in bytes. */
  readonly byteLength: number;
  /** The mapping as an ArrayBuffer shared with every process that maps the same name. */
  readonly buffer: ArrayBuffer;
  #base: Deno.PointerObject | null;

  private constructor(name: string, byteLength: number, base: Deno.PointerObject) {
    this.name = name;
    this.byteLength = byteLength;
    this.#base = base;
    this.buffer = Deno.UnsafePointerView.getArrayBuffer(base, byteLength);
  }

  /**
   * Opens (creating it if needed) the segment `name` with `byteLength` bytes and maps it read-write. Every
   * process passes the same size; a fresh segment is zero-filled, so all-zero is the natural initial state.
   */
  static open(name: string, byteLength: number): SharedSegment {
    if (!Number.isSafeInteger(byteLength) || byteLength <= 0) {
      throw new Error(`shared memory: invalid size ${byteLength} for segment "${name}"`);
    }
    const c = lib();
    const posix = segmentName(name);
    const fd = c.shm_open(cString(posix), O_RDWR | O_CREAT, 0o600);
    if (fd < 0) throw new Error(`shared memory: shm_open("${posix}") failed: ${lastError()}`);
    try {
      if (c.ftruncate(fd, BigInt(byteLength)) !== 0) {
        throw new Error(`shared memory: ftruncate("${posix}", ${byteLength}) failed: ${lastError()}`);
      }
      const p = c.mmap(null, BigInt(byteLength), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
      if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
        throw new Error(`shared memory: mmap of "${posix}" (${byteLength} bytes) failed: ${lastError()}`);
      }
      return new SharedSegment(posix, byteLength, p);
    } finally {
      c.close(fd); // the mapping keeps the memory alive
    }
  }

  /** Removes the name from /dev/shm (existing mappings stay valid). Ignores a name that is already gone. */
  static unlink(name: string): void {
    lib().shm_unlink(cString(segmentName(name)));
  }

  /** Address of the byte at `byteOffset` (for futex calls). */
  pointer(byteOffset = 0): Deno.PointerObject {
    if (!this.#base) throw new Error(`shared memory: segment "${this.name}" is closed`);
    if (byteOffset < 0 || byteOffset + 4 > this.byteLength || byteOffset % 4 !== 0) {
      throw new Error(
        `shared memory: bad futex offset ${byteOffset} in "${this.name}" (${this.byteLength} bytes)`,
      );
    }
    return Deno.UnsafePointer.offset(this.#base, byteOffset) as Deno.PointerObject;
  }

  /**
   * Sleeps while the int32 at `byteOffset` equals `expected`, at most `timeoutMs`, without blocking the event
   * loop. Returns when woken, on timeout, or spuriously: callers re-check their condition in a loop.
   */
  async waitAsync(byteOffset: number, expected: number, timeoutMs: number): Promise<void> {
    const ts = timespec(timeoutMs);
    await lib().futex_wait_async(
      BigInt(SYS_FUTEX[Deno.build.arch]),
      this.pointer(byteOffset),
      FUTEX_WAIT,
      expected,
      ts,
      null,
      0,
    );
  }

  /** Blocking form of {@linkcode waitAsync} (the whole JS thread sleeps). */
  waitSync(byteOffset: number, expected: number, timeoutMs: number): void {
    lib().futex_wait_sync(
      BigInt(SYS_FUTEX[Deno.build.arch]),
      this.pointer(byteOffset),
      FUTEX_WAIT,
      expected,
      timespec(timeoutMs),
      null,
      0,
    );
  }

  /** Wakes every process sleeping on the int32 at `byteOffset`; returns how many were woken. */
  wake(byteOffset: number): number {
    return Number(
      lib().futex_wake(
        BigInt(SYS_FUTEX[Deno.build.arch]),
        this.pointer(byteOffset),
        FUTEX_WAKE,
        WAKE_ALL,
        null,
        null,
        0,
      ),
    );
  }

  /** Unmaps the segment. Views on `buffer` must not be used afterwards. Idempotent. */
  close(): void {
    if (!this.#base) return;
    lib().munmap(this.#base, BigInt(this.byteLength));
    this.#base = null;
  }
}

/** True when process `pid` exists (Linux /proc; shared memory is Linux-only). */
export function processAlive(pid: number): boolean {
  return isRunning(pid) ?? true;
}

/** A relative `struct timespec` for FUTEX_WAIT. */
function timespec(ms: number): BigInt64Array<ArrayBuffer> {
  const t = Math.max(0, ms);
  const sec = Math.floor(t / 1000);
  return BigInt64Array.of(BigInt(sec), BigInt(Math.round((t - sec * 1000) * 1e6)));
}
