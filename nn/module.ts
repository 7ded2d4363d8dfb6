/**
 * `Module`: the base of every layer and model. Children, parameters and buffers are registered by name in
 * PyTorch's order, so `namedParameters()` and `stateDict()` produce the reference's dotted key names
 * (e.g. `encoder.blocks.1.conv1.conv.weight`) and checkpoints exported from PyTorch load directly.
 */
import { backend, noGrad, type Tensor, tensor } from "../tensor/mod.ts";
import type { HostTensor, StateDict } from "./serialization/types.ts";

/** Options of `Module.loadStateDict`. */
export interface LoadStateDictOptions {
  /** Require every key to match (no missing or unexpected keys). Default true. Shape mismatches always fail. */
  strict?: boolean;
  /** File the state dict came from, named in errors. */
  file?: string;
}

/** What a (non-strict) load did not use or could not find. */
export interface LoadStateDictResult {
  /** Keys the module expects that the state dict lacks. */
  missingKeys: string[];
  /** Keys of the state dict the module does not have. */
  unexpectedKeys: string[];
}

/** A load that failed: lists missing keys, unexpected keys and shape mismatches. */
export class StateDictError extends Error {
  constructor(
    readonly missingKeys: string[],
    readonly unexpectedKeys: string[],
    readonly shapeMismatches: { key: string; expected: number[]; got: number[] }[],
    readonly file?: string,
  ) {
    const parts: string[] = [];
    const list = (ks: string[]) =>
      ks.slice(0, 20).join(", ") + (ks.length > 20 ? `, … (${ks.length} in all)` : "");
    if (missingKeys.length) parts.push(`missing keys (${missingKeys.length}): ${list(missingKeys)}`);
    if (unexpectedKeys.length) {
      parts.push(`unexpected keys (${unexpectedKeys.length}): ${list(unexpectedKeys)}`);
    }
    if (shapeMismatches.length) {
      parts.push(
        `shape mismatches (${shapeMismatches.length}): ` +
          shapeMismatches.slice(0, 20).map((m) => `${m.key} expected [${m.expected}] got [${m.got}]`).join(
            ", ",
          ),
      );
    }
    super(`loadStateDict${file ? ` from ${file}` : ""} failed: ${parts.join("; ")}`);
    this.name = "StateDictError";
  }
}

/** The base class of layers and models. Subclasses register what they own in their constructors. */
export class Module {
  /** Training mode (affects Dropout); set with `train()` / `eval()`. */
  training = true;
  #params = new Map<string, Tensor>();
  #buffers = new Map<string, { tensor: Tensor; persistent: boolean }>();
  #children = new Map<string, Module>();

  /** Registers a trainable parameter (marked requiresGrad and kept out of scopes). Returns it. */
  protected registerParameter<T extends Tensor>(name: string, t: T): T {
    this.#checkName(name);
    t.requireGrad(true).keep();
    this.#params.set(name, t);
    return t;
  }

  /** Registers a non-trainable tensor (saved in the state dict unless `persistent` is false). Returns it. */
  protected registerBuffer<T extends Tensor>(name: string, t: T, persistent = true): T {
    this.#checkName(name);
    t.keep();
    this.#buffers.set(name, { tensor: t, persistent });
    return t;
  }

  /** Registers a child module. Returns it. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#checkName(name);
    this.#children.set(name, m);
    return m;
  }

  #checkName(name: string): void {
    if (!name || name.includes(".")) {
      throw new Error(`${this.constructor.name}: invalid member name '${name}'`);
    }
    if (this.#params.has(name) || this.#buffers.has(name) || this.#children.has(name)) {
      throw new Error(`${this.constructor.name}: '${name}' is already registered`);
    }
  }

  /** Direct children in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** A direct child by name (throws when absent). */
  child<M extends Module = Module>(name: string): M {
    const m = this.#children.get(name);
    if (!m) throw new Error(`${this.constructor.name}: no child '${name}'`);
    return m as M;
  }

  /** This module and every descendant with its dotted path ("" for this one), depth first. */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.#children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Every parameter with its PyTorch dotted name, in PyTorch's `named_parameters()` order. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [n, p] of m.#params) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([path ? `${path}.${n}` : n, p]);
      }
    }
    return out;
  }

  /** Every parameter, in `namedParameters()` order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Persistent buffers with dotted names. */
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [n, b] of m.#buffers) if (b.persistent) out.push([path ? `${path}.${n}` : n, b.tensor]);
    }
    return out;
  }

  /** Number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((a, p) => a + p.size, 0);
  }

  /** Sets training mode on this module and all descendants. Returns this. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (`train(false)`). Returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Enables or disables gradient collection on every parameter (e.g. a frozen trunk). Returns this. */
  requiresGrad(flag: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Drops every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The state dict keys in PyTorch order: per module its parameters, then its buffers, then its children. */
  #stateEntries(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const key = (n: string) => (prefix ? `${prefix}.${n}` : n);
    for (const [n, p] of this.#params) out.push([key(n), p]);
    for (const [n, b] of this.#buffers) if (b.persistent) out.push([key(n), b.tensor]);
    for (const [n, c] of this.#children) out.push(...c.#stateEntries(key(n)));
    return out;
  }

  /** Keys and shapes of the state dict, without reading anything back. */
  stateDictShapes(): [string, number[]][] {
    return this.#stateEntries().map(([k, t]) => [k, [...t.shape]]);
  }

  /** Reads every parameter and buffer back to the host, keyed by the PyTorch names (one sync). */
  async stateDict(): Promise<StateDict> {
    const entries = this.#stateEntries();
    const datas = await Promise.all(entries.map(([, t]) => t.data()));
    const sd: StateDict = new Map();
    entries.forEach(([k, t], i) => {
      sd.set(k, { dtype: "float32", shape: [...t.shape], data: datas[i] as Float32Array });
    });
    return sd;
  }

  /**
   * Copies values from a host state dict into the parameters and buffers (in place, so optimizers and
   * references stay valid). Throws a `StateDictError` listing missing / unexpected keys (strict) and shape
   * mismatches (always).
   */
  loadStateDict(sd: StateDict, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const entries = this.#stateEntries();
    const expected = new Map(entries);
    const missingKeys: string[] = [];
    const mismatches: { key: string; expected: number[]; got: number[] }[] = [];
    const toLoad: [Tensor, HostTensor][] = [];
    for (const [k, t] of entries) {
      const v = sd.get(k);
      if (!v) {
        missingKeys.push(k);
        continue;
      }
      const sameShape = v.shape.length === t.shape.length && v.shape.every((d, i) => d === t.shape[i]);
      if (!sameShape) mismatches.push({ key: k, expected: [...t.shape], got: [...v.shape] });
      else toLoad.push([t, v]);
    }
    const unexpectedKeys = [...sd.keys()].filter((k) => !expected.has(k));
    if (mismatches.length || (strict && (missingKeys.length || unexpectedKeys.length))) {
      throw new StateDictError(
        strict ? missingKeys : [],
        strict ? unexpectedKeys : [],
        mismatches,
        options.file,
      );
    }
    noGrad(() => {
      for (const [t, v] of toLoad) {
        const data = v.data instanceof Float32Array ? v.data : Float32Array.from(v.data);
        backend().upload(t.buffer("loadStateDict"), data);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Releases every parameter, gradient and buffer of this module tree. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const p of m.#params.values()) {
        p.grad?.dispose();
        p.grad = null;
        p.dispose();
      }
      for (const b of m.#buffers.values()) b.tensor.dispose();
    }
  }
}

/** A module that maps one tensor to one tensor (what `Sequential` chains). */
export interface Layer {
  forward(x: Tensor): Tensor;
}

/** Uploads a host array as a parameter-shaped tensor (helper for layers). */
export function hostTensor(data: Float32Array, shape: readonly number[]): Tensor {
  return tensor(data, [...shape]);
}
