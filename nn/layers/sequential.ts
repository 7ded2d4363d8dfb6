/** Sequential: children named "0", "1", … (or given names) applied in order. */
import type { Tensor } from "../../tensor/mod.ts";
import { type Layer, Module } from "../module.ts";

/** A module applying its children in order; intermediate tensors are disposed as soon as they are used. */
export class Sequential extends Module {
  readonly layers: (Module & Layer)[];
  constructor(layers: (Module & Layer)[] | [string, Module & Layer][]) {
    super();
    this.layers = [];
    layers.forEach((entry, i) => {
      const [name, m] = Array.isArray(entry) ? entry : [String(i), entry];
      this.layers.push(this.registerModule(name, m));
    });
  }
  /** Chains every layer: x → layers[n−1](…layers[0](x)). */
  forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of this.layers) {
      const next = layer.forward(h);
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
  }
}

/** PyTorch `nn.ModuleList`: children named "0", "1", … with no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[] = []) {
    super();
    this.items = [];
    for (const m of items) this.append(m);
  }
  /** Adds a child named by its index. Returns it. */
  append(m: M): M {
    this.items.push(this.registerModule(String(this.items.length), m));
    return m;
  }
  get length(): number {
    return this.items.length;
  }
}
