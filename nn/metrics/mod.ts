/** Host-side evaluation metrics for volumes: PSNR, SSIM, MS-SSIM, Fréchet distance on fixed features. */
export * from "./image_quality.ts";
export * from "./frechet.ts";
