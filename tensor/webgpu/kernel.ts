/**
 * Kernel interface declared once: storage bindings and named uniforms. From one declaration come the WGSL
 * header (bindings, the uniform slot, shared helpers), the `let` lines that read each scalar uniform by name,
 * accessor functions for uniform arrays, and the host-side packing of the uniform slot. Kernel bodies then
 * read `tilesW`, not a slot number, and the host fills `{ tilesW }`, not a position in an array.
 */
import { UNIFORM_WORDS } from "./runtime.ts";

/** How a uniform word is read: unsigned, two's-complement signed, or float bits. */
export type UniformType = "u32" | "i32" | "f32";
/** A scalar uniform, or `[type, length]` for an array read through a same-named WGSL function. */
export type UniformDecl = UniformType | readonly [UniformType, number];
export type UniformDecls = Record<string, UniformDecl>;

/** One storage binding: WGSL name, element type and access. */
export interface BufferDecl {
  name: string;
  type: string;
  access?: "read" | "read_write";
}

export type UniformValues<U extends UniformDecls> = {
  [K in keyof U]: U[K] extends UniformType ? number : ArrayLike<number>;
};

/** A declared kernel interface. Buffers bind to 0..n-1 in order, the uniform slot to n (as `Runtime.dispatch`). */
export interface KernelLayout<U extends UniformDecls> {
  /** Binding declarations, the uniform slot, array accessors and the shared helpers (`linearGroup`). */
  readonly header: string;
  /** `let name = …;` for every scalar uniform, for the top of `main`. */
  readonly lets: string;
  /** The uniform words for one dispatch. */
  pack(values: UniformValues<U>): Uint32Array;
}

const cast = (t: UniformType, word: string) => t === "u32" ? word : `bitcast<${t}>(${word})`;

/** Declares a kernel's bindings and named uniforms (in slot order, arrays taking `length` words). */
export function kernelLayout<U extends UniformDecls>(
  buffers: readonly BufferDecl[],
  uniforms: U,
): KernelLayout<U> {
  const slots: { name: string; type: UniformType; at: number; length: number | null }[] = [];
  let at = 0;
  for (const [name, d] of Object.entries(uniforms)) {
    const [type, length] = typeof d === "string" ? [d, null] : [d[0], d[1]];
    slots.push({ name, type, at, length });
    at += length ?? 1;
  }
  if (at > UNIFORM_WORDS) {
    throw new Error(`kernel uniforms take ${at} words, over the slot of ${UNIFORM_WORDS}`);
  }
  const word = (i: number) => `params[${i >> 2}u][${i & 3}u]`;
  const bindings = buffers.map((b, i) =>
    `@group(0) @binding(${i}) var<storage, ${b.access ?? "read"}> ${b.name}: array<${b.type}>;`
  );
  const arrays = slots.filter((s) => s.length !== null).map((s) =>
    `fn ${s.name}(k: u32) -> ${s.type} { let i = ${s.at}u + k; return ${
      cast(s.type, "params[i / 4u][i % 4u]")
    }; }`
  );
  const header = `
${bindings.join("\n")}
@group(0) @binding(${buffers.length}) var<uniform> params: array<vec4<u32>, ${UNIFORM_WORDS / 4}>;
${arrays.join("\n")}
fn linearGroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }
`;
  const lets = slots.filter((s) => s.length === null).map((s) =>
    `let ${s.name} = ${cast(s.type, word(s.at))};`
  )
    .join(" ");
  return {
    header,
    lets,
    pack(values) {
      const words = new Uint32Array(at), floats = new Float32Array(words.buffer);
      const v = values as Record<string, number | ArrayLike<number>>;
      for (const s of slots) {
        const value = v[s.name];
        if (value === undefined) throw new Error(`kernel uniform '${s.name}' has no value`);
        const list = typeof value === "number" ? [value] : Array.from(value);
        if (list.length > (s.length ?? 1)) {
          throw new Error(`kernel uniform '${s.name}' takes ${s.length ?? 1} values, got ${list.length}`);
        }
        // Uint32Array stores wrap modulo 2³², so negative i32 values land as their two's-complement bits.
        list.forEach((x, k) => s.type === "f32" ? (floats[s.at + k] = x) : (words[s.at + k] = x));
      }
      return words;
    },
  };
}
