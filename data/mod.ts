/** Data layer: NIfTI I/O, Decathlon dataset, split, transforms, cache, loader, synthetic phantoms. */
export * from "./volume.ts";
export * from "./affine.ts";
export * from "./nifti.ts";
export * from "./nifti_write.ts";
export * from "./nifti_write_file.ts";
export * from "./mt19937.ts";
export * from "./split.ts";
export * from "./transforms/mod.ts";
export * from "./synthetic.ts";
export * from "./decathlon.ts";
export * from "./cache.ts";
export * from "./preprocess.ts";
export * from "./loader.ts";
export * from "./reference_chain.ts";
