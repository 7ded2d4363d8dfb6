/** Host-side (CPU) tensor and state-dict types shared by the serialization readers and writers. */

/** Element type a tensor had in its file; floating types are held as Float32Array, integer types as Int32Array. */
export type HostDType =
  | "float32"
  | "float16"
  | "bfloat16"
  | "float64"
  | "int32"
  | "int64"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/** A tensor in host memory: C-order data, shape in PyTorch order. f16/bf16/f64 are widened/narrowed to float32 on read. */
export interface HostTensor {
  /** Element type the tensor had in the file it came from (or is to be written as). */
  dtype: HostDType;
  /** Dimensions, outermost first; `[]` for a scalar. */
  shape: number[];
  /** Elements in C order; length = product of `shape`. */
  data: Float32Array | Int32Array;
}

/** Named tensors; insertion order is the order of the file (or of the PyTorch state dict). */
export type StateDict = Map<string, HostTensor>;

/** Error raised by every reader/writer in this folder; `file` names the file (or buffer label) involved. */
export class SerializationError extends Error {
  /** The file (or label of the byte buffer) the error is about. */
  readonly file: string;
  /** Builds the error; the message is prefixed with the file name. */
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = "SerializationError";
    this.file = file;
  }
}

/** Number of elements of a shape (1 for a scalar). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Whether a dtype is held as Float32Array on the host. */
export function isFloatDType(dtype: HostDType): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "bfloat16" || dtype === "float64";
}
