/** Names of the elementwise and reduction primitives every backend implements (no kernel code here). */

/** Elementwise ops, in the order backends number them. Inputs are a, b, c; scalar params s0, s1. */
export const MAP_OP_NAMES = [
  "copy",
  "neg",
  "exp",
  "log",
  "sin",
  "cos",
  "sqrt",
  "rsqrt",
  "abs",
  "sign",
  "square",
  "reciprocal",
  "relu",
  "leakyRelu",
  "silu",
  "sigmoid",
  "tanh",
  "gelu",
  "clamp",
  "affine",
  "powScalar",
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "maximum",
  "minimum",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "where",
  // Derivative helpers used by backward passes (fused so a gradient costs one kernel): a = x or y, b = dy.
  "reluGrad",
  "leakyReluGrad",
  "siluGrad",
  "sigmoidGrad",
  "tanhGrad",
  "geluGrad",
  "clampGrad",
  "absGrad",
  "cast",
] as const;

/** Name of an elementwise op. */
export type MapOp = typeof MAP_OP_NAMES[number];

/** Reduction kinds. argmax/argmin write int32 indices along R. */
export type ReduceOp = "sum" | "max" | "min" | "argmax" | "argmin";
