/** The optimizer base: a parameter list, per-parameter state on the device, zeroGrad, state save/load. */
import { backend, full, type OptimizerKind, type OptimizerStepArgs, type Tensor } from "../../tensor/mod.ts";
import type { StateDict } from "../serialization/types.ts";

/** What `Optimizer.stateDict()` returns: hyper-parameters plus per-parameter state tensors on the host. */
export interface OptimizerState {
  /** Optimizer class ("Adam", "AdamW", "SGD"). */
  type: string;
  /** Hyper-parameters (lr included), as plain JSON. */
  hyper: Record<string, number | boolean>;
  /** Per-parameter step counts (index = parameter order), null where a parameter has no state yet. */
  steps: (number | null)[];
  /** State tensors keyed `state.<i>.<name>` (PyTorch's naming, e.g. `state.3.exp_avg`). */
  tensors: StateDict;
}

/** Per-parameter state: named device tensors and a step counter. */
export interface ParamState {
  step: number;
  buffers: Map<string, Tensor>;
}

/** Base class of the optimizers: holds the parameters, their state, and the current learning rate. */
export abstract class Optimizer {
  /** Learning rate used by the next `step()` (schedulers change it). */
  lr: number;
  /** The lr the optimizer was built with (schedulers scale from it). */
  readonly initialLr: number;
  protected readonly state: Map<Tensor, ParamState> = new Map();
  constructor(readonly params: Tensor[], lr: number) {
    if (!(lr >= 0)) throw new Error(`${this.constructor.name}: invalid learning rate ${lr}`);
    if (params.length === 0) throw new Error(`${this.constructor.name}: empty parameter list`);
    this.lr = lr;
    this.initialLr = lr;
  }

  /** Names of the state buffers this optimizer keeps per parameter. */
  protected abstract stateNames(): string[];
  /** Hyper-parameters other than lr, for stateDict(). */
  protected abstract hyper(): Record<string, number | boolean>;
  /** Applies one fused update to `p` (which has a gradient). */
  protected abstract update(p: Tensor, grad: Tensor, s: ParamState): void;

  /** Drops every parameter's gradient (`zero_grad(set_to_none=True)`, PyTorch ≥ 2 default). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** One update of every parameter that has a gradient (parameters without one are skipped, as PyTorch). */
  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      if (p.dtype !== "float32") {
        throw new Error(`${this.constructor.name}: parameter [${p.shape}] is ${p.dtype}`);
      }
      let s = this.state.get(p);
      if (!s) {
        s = { step: 0, buffers: new Map(this.stateNames().map((n) => [n, full(p.shape, 0).keep()])) };
        this.state.set(p, s);
      }
      s.step++;
      this.update(p, p.grad, s);
    }
  }

  /** Records the fused kernel for one parameter (helper for subclasses). */
  protected dispatch(
    kind: OptimizerKind,
    p: Tensor,
    grad: Tensor,
    state: Tensor[],
    args: OptimizerStepArgs,
  ) {
    backend().optimizerStep({
      kind,
      param: p.buffer("optimizer step"),
      grad: grad.buffer("optimizer step"),
      state: state.map((t) => t.buffer("optimizer state")),
      n: p.size,
      args,
    });
  }

  /** Reads the optimizer state back to the host (one sync). */
  async stateDict(): Promise<OptimizerState> {
    const tensors: StateDict = new Map();
    const steps: (number | null)[] = [];
    const reads: Promise<void>[] = [];
    this.params.forEach((p, i) => {
      const s = this.state.get(p);
      steps.push(s ? s.step : null);
      if (!s) return;
      for (const [name, t] of s.buffers) {
        const key = `state.${i}.${name}`;
        tensors.set(key, { dtype: "float32", shape: [...t.shape], data: new Float32Array(0) });
        reads.push(
          t.data().then((d) => {
            tensors.get(key)!.data = d as Float32Array;
          }),
        );
      }
    });
    await Promise.all(reads);
    return { type: this.constructor.name, hyper: { lr: this.lr, ...this.hyper() }, steps, tensors };
  }

  /** Restores state saved by `stateDict()` (same parameter order and shapes); sets lr from it. */
  loadStateDict(saved: OptimizerState): void {
    if (saved.type !== this.constructor.name) {
      throw new Error(`${this.constructor.name}.loadStateDict: state was saved by ${saved.type}`);
    }
    if (saved.steps.length !== this.params.length) {
      throw new Error(
        `${this.constructor.name}.loadStateDict: saved state has ${saved.steps.length} parameters, optimizer has ${this.params.length}`,
      );
    }
    this.params.forEach((p, i) => {
      const step = saved.steps[i];
      const old = this.state.get(p);
      if (old) { for (const t of old.buffers.values()) t.dispose(); }
      this.state.delete(p);
      if (step === null) return;
      const buffers = new Map<string, Tensor>();
      for (const name of this.stateNames()) {
        const h = saved.tensors.get(`state.${i}.${name}`);
        if (!h) throw new Error(`${this.constructor.name}.loadStateDict: missing state.${i}.${name}`);
        if (h.shape.join() !== p.shape.join()) {
          throw new Error(
            `${this.constructor.name}.loadStateDict: state.${i}.${name} is [${h.shape}], parameter is [${p.shape}]`,
          );
        }
        const t = full(p.shape, 0).keep();
        backend().upload(t.buffer(), h.data as Float32Array);
        buffers.set(name, t);
      }
      this.state.set(p, { step, buffers });
    });
    if (typeof saved.hyper.lr === "number") this.lr = saved.hyper.lr;
  }

  /** Releases the state tensors. */
  dispose(): void {
    for (const s of this.state.values()) for (const t of s.buffers.values()) t.dispose();
    this.state.clear();
  }
}
