/**
 * Reverse-mode autograd. Each differentiable op records a Node: its inputs, the tensors its backward needs
 * (retained), and a backward closure. `backward()` walks the nodes in reverse topological order,
 * accumulating gradients, and frees the graph. Each node's backward runs inside a `scope`, so every temporary
 * it makes is freed and only the gradients it returns survive; the whole pass runs in one more scope, so
 * nothing it allocates outlives it except the leaves' `.grad`. Nodes are reference-counted so a graph that never sees
 * backward is freed when its outputs are disposed.
 */
import { scope, setBackwardImpl, type Tensor } from "./tensor.ts";
import type { Shape } from "./shape.ts";

/** Computes the gradients of the inputs from the output's gradient (null where an input needs none). */
export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

let gradDisabled = 0;

/** True when new ops record autograd nodes. */
export function isGradEnabled(): boolean {
  return gradDisabled === 0;
}

/** Runs `fn` without recording autograd history (inference, optimizer updates, backward itself). */
export function noGrad<T>(fn: () => T): T {
  gradDisabled++;
  try {
    return fn();
  } finally {
    gradDisabled--;
  }
}

/** Runs `fn` with recording on even inside `noGrad` or a backward pass (gradient checkpointing's recompute). */
export function enableGrad<T>(fn: () => T): T {
  const saved = gradDisabled;
  gradDisabled = 0;
  try {
    return fn();
  } finally {
    gradDisabled = saved;
  }
}

/** One recorded op. */
export class Node {
  /** Live references: the output handle plus each downstream node that uses the output. */
  refs = 1;
  #backward: BackwardFn | null;
  #saved: Tensor[];
  constructor(readonly op: string, readonly inputs: Tensor[], saved: Tensor[], backward: BackwardFn) {
    this.#saved = saved;
    this.#backward = backward;
    for (const x of inputs) if (x.node) x.node.refs++;
  }
  get freed(): boolean {
    return this.#backward === null;
  }
  run(grad: Tensor): (Tensor | null)[] {
    if (!this.#backward) {
      throw new Error(`backward through ${this.op} a second time: the graph was already freed`);
    }
    return this.#backward(grad);
  }
  /** Frees what backward needed (after backward ran, or when nothing can reach this node any more). */
  free(): void {
    for (const t of this.#saved) t.dispose();
    this.#saved = [];
    this.#backward = null;
  }
  release(): void {
    if (--this.refs > 0) return;
    this.free();
    for (const x of this.inputs) x.node?.release();
  }
}

/**
 * Records `out` as produced by `op` from `inputs` when any input requires grad. `saved` are the tensors the
 * backward closure reads: they are retained (as detached handles) until the node is freed.
 */
export function record<T extends Tensor>(
  out: T,
  op: string,
  inputs: Tensor[],
  saved: Tensor[],
  backward: (grad: Tensor, saved: Tensor[]) => (Tensor | null)[],
): T {
  if (!isGradEnabled() || !inputs.some((x) => x.requiresGrad)) return out;
  const keep = saved.map((t) => t.detach().keep());
  out.requiresGrad = true;
  out.node = new Node(op, inputs, keep, (g) => backward(g, keep));
  return out;
}

// The accumulation op is injected by ops/elementwise.ts so this file stays free of kernel code.
let addGrads: (a: Tensor, b: Tensor) => Tensor = () => {
  throw new Error("autograd: elementwise ops not loaded");
};
let onesLike: (t: Tensor) => Tensor = () => {
  throw new Error("autograd: creation ops not loaded");
};

/** Installs the gradient accumulation and seed ops (called once by the ops modules). */
export function setAutogradOps(add: (a: Tensor, b: Tensor) => Tensor, ones: (t: Tensor) => Tensor): void {
  addGrads = add;
  onesLike = ones;
}

function topoOrder(root: Tensor): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: [Node, number][] = [];
  if (root.node) stack.push([root.node, 0]);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i === 0 && seen.has(node)) {
      stack.pop();
      continue;
    }
    seen.add(node);
    if (i < node.inputs.length) {
      top[1]++;
      const child = node.inputs[i].node;
      if (child && !seen.has(child)) stack.push([child, 0]);
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order.reverse();
}

function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error(`backward(): tensor [${root.shape}] does not require grad`);
  if (!grad && root.size !== 1) {
    throw new Error(`backward(): output [${root.shape}] is not a scalar; pass a gradient of the same shape`);
  }
  if (grad && grad.shape.join() !== root.shape.join()) {
    throw new Error(`backward(): gradient shape [${grad.shape}] differs from output shape [${root.shape}]`);
  }
  noGrad(() => scope(() => backwardPass(root, grad)));
}

function backwardPass(root: Tensor, grad?: Tensor): void {
  {
    const grads = new Map<Tensor, Tensor>();
    const seed = grad ? grad.detach() : onesLike(root);
    if (!root.node) {
      accumulateLeaf(root, seed);
      return;
    }
    grads.set(root, seed);
    const nodeOutput = new Map<Node, Tensor>([[root.node, root]]);
    const order = topoOrder(root);
    for (const node of order) for (const x of node.inputs) if (x.node) nodeOutput.set(x.node, x);
    for (const node of order) {
      const out = nodeOutput.get(node)!;
      const g = grads.get(out);
      grads.delete(out);
      if (!g) {
        node.free();
        continue;
      }
      const inputGrads = runScoped(node, g);
      // Gradients are dropped as soon as they are consumed (not at the end of the pass) to keep the peak low.
      if (!inputGrads.includes(g)) g.dispose();
      node.free();
      node.inputs.forEach((x, k) => {
        const gx = inputGrads[k];
        if (!gx) return;
        if (!x.requiresGrad) {
          gx.dispose();
          return;
        }
        if (!x.node) {
          accumulateLeaf(x, gx);
          return;
        }
        const prev = grads.get(x);
        if (prev) {
          grads.set(x, addGrads(prev, gx));
          prev.dispose();
          gx.dispose();
        } else grads.set(x, gx);
      });
    }
    for (const g of grads.values()) g.dispose();
  }
}

/**
 * Runs one node's backward in a scope: its temporaries are freed, the returned gradients survive. A tensor
 * returned for two inputs gets a second handle, so each input's gradient can be released on its own.
 */
function runScoped(node: Node, g: Tensor): (Tensor | null)[] {
  return scope(() => {
    const seen = new Set<Tensor>();
    return node.run(g).map((gx) => {
      if (!gx) return null;
      const own = seen.has(gx) ? gx.detach() : gx;
      seen.add(own);
      return own;
    });
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (g.shape.join() !== leaf.shape.join()) {
    throw new Error(`autograd: gradient [${g.shape}] does not match leaf [${leaf.shape}]`);
  }
  if (leaf.grad) {
    const sum = addGrads(leaf.grad, g).keep();
    leaf.grad.dispose();
    g.dispose();
    leaf.grad = sum as Tensor<Shape, "float32">;
  } else {
    leaf.grad = g.keep() as Tensor<Shape, "float32">;
  }
}

setBackwardImpl(backward);
