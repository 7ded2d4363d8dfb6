/** All transforms (MONAI semantics); see each file. */
export * from "./transform.ts";
export * from "./channel.ts";
export * from "./orientation.ts";
export * from "./spacing.ts";
export * from "./crop.ts";
export * from "./intensity.ts";
export * from "./float16.ts";
export * from "./registry.ts";
