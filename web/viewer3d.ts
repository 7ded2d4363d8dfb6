/// <reference lib="dom" />
/** The 3D view: NiiVue (bundled from npm, nothing fetched) rendering the sampled .nii.gz with its affine. */
import { Niivue } from "@niivue/niivue";

let viewer: Niivue | null = null;

/** Shows the NIfTI bytes as a volume rendering; returns a caption (what is shown, or why nothing is). */
export async function showIn3d(
  canvas: HTMLCanvasElement,
  nii: Uint8Array,
  window: [number, number],
): Promise<string> {
  try {
    if (!viewer) {
      viewer = new Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true, isResizeCanvas: false });
      canvas.width = 320;
      canvas.height = 320;
      await viewer.attachToCanvas(canvas);
    }
    for (const v of [...viewer.volumes]) viewer.removeVolume(v);
    const buffer = nii.slice().buffer as ArrayBuffer;
    await viewer.loadFromArrayBuffer(buffer, "sample.nii.gz");
    const volume = viewer.volumes[0];
    if (volume) {
      volume.cal_min = window[0];
      volume.cal_max = window[1];
      viewer.updateGLVolume();
    }
    viewer.setSliceType(viewer.sliceTypeRender);
    return "3D (NiiVue volume rendering; drag to rotate)";
  } catch (e) {
    return `3D view unavailable: ${(e as Error).message} (NiiVue needs WebGL2)`;
  }
}
