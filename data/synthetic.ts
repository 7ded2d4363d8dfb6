/**
 * Deterministic synthetic brain phantoms in the Medical Decathlon Task01_BrainTumour layout: 4-channel int16
 * images (FLAIR, T1w, T1gd, T2w; channel last on disk), label maps, dataset.json.
 */
import { join } from "pathe";
import { axcodesToOrnt, ioOrientation, orntTransform } from "./affine.ts";
import { MT19937 } from "./mt19937.ts";
import { writeNifti } from "./nifti_write_file.ts";
import { applyOrnt } from "./transforms/orientation.ts";
import { makeVolume, type Volume } from "./volume.ts";

/** Options of one phantom. */
export interface PhantomOptions {
  /** Grid size in RAS order (the shape after reorientation to RAS); default [40, 40, 30]. */
  shape?: [number, number, number];
  /** Voxel size in mm (isotropic), default 1. */
  spacing?: number;
  /** Axis codes of the stored array ("LPS", "PIR", …) or "random" (default: a random non-RAS permutation/flip). */
  axcodes?: string;
}

/** A generated phantom: the 4-channel image `[4, X, Y, Z]`, the label map `[1, X, Y, Z]`, and facts about it. */
export interface Phantom {
  /** 4-channel image `[4, X, Y, Z]` in the stored orientation. */
  image: Volume;
  /** Label map `[1, X, Y, Z]` (0 background, 1 edema, 2 non-enhancing, 3 enhancing). */
  label: Volume;
  /** Axis codes of the stored array. */
  axcodes: string;
  /** Tumour centre (world mm) and radius (mm). */
  tumour: { centre: [number, number, number]; radius: number };
}

// Tissue intensities for [FLAIR, T1w, T1gd, T2w].
const TISSUE: Record<string, [number, number, number, number]> = {
  skull: [120, 380, 380, 180],
  csf: [140, 260, 260, 1500],
  grey: [640, 560, 560, 880],
  white: [480, 820, 830, 600],
  edema: [1150, 500, 520, 1250],
  necrosis: [880, 380, 400, 1350],
  enhancing: [980, 600, 1300, 1050],
};

/** Fast seeded uniform generator (sfc32) for per-voxel noise; seeded from MT19937. */
function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a >>>= 0, b >>>= 0, c >>>= 0, d >>>= 0;
    const t = (a + b | 0) + d | 0;
    d = d + 1 | 0;
    a = b ^ (b >>> 9);
    b = c + (c << 3) | 0;
    c = (c << 21) | (c >>> 11);
    c = c + t | 0;
    return (t >>> 0) / 4294967296;
  };
}

/** Picks random non-RAS axis codes: a random permutation of the three axes with random flips, never "RAS". */
function randomAxcodes(rng: MT19937): string {
  const labels = [["L", "R"], ["P", "A"], ["I", "S"]];
  for (;;) {
    const perm = [0, 1, 2];
    rng.shuffle(perm);
    const codes = perm.map((ax) => labels[ax][rng.interval(1)]).join("");
    if (codes !== "RAS") return codes;
  }
}

/** Generates one phantom from `seed` (same seed and options → identical voxels). */
export function generatePhantom(seed: number, options: PhantomOptions = {}): Phantom {
  const [nx, ny, nz] = options.shape ?? [40, 40, 30];
  const sp = options.spacing ?? 1;
  const rng = new MT19937(seed >>> 0);
  const codes = !options.axcodes || options.axcodes === "random"
    ? randomAxcodes(rng)
    : options.axcodes.toUpperCase();
  // Head: an ellipsoid filling ~85 % of the field of view, slightly jittered.
  const half = [nx, ny, nz].map((n) => ((n - 1) * sp) / 2);
  const radii = half.map((h) => h * (0.84 + 0.06 * rng.random()));
  const centre = [0, 1, 2].map((a) => (rng.random() - 0.5) * 0.04 * half[a]);
  const gyri = 5 + rng.interval(4);
  const phase = rng.random() * Math.PI * 2;
  // Tumour inside the white matter.
  const tr = 0.1 + 0.15 * rng.random(); // radius as a fraction of the head
  const tdir = [rng.normal(), rng.normal(), rng.normal()];
  const tn = Math.hypot(...tdir) || 1;
  const tdist = (0.2 + 0.3 * rng.random()) * (0.62 - tr);
  const tc = tdir.map((v, a) => centre[a] + (v / tn) * tdist * radii[a] * 1.6);
  const tumourRadius = tr * Math.min(...radii);
  const bias = [0, 1, 2].map(() => (rng.random() - 0.5) * 0.3);
  const bias2 = (rng.random() - 0.5) * 0.2;
  const noiseSigma = 12 + 10 * rng.random();
  const uniform = sfc32(rng.nextUint32(), rng.nextUint32(), rng.nextUint32(), rng.nextUint32());

  const n = nx * ny * nz;
  const image = new Float32Array(4 * n);
  const label = new Float32Array(n);
  let spare = NaN;
  const gauss = () => {
    if (!Number.isNaN(spare)) {
      const s = spare;
      spare = NaN;
      return s;
    }
    let u = uniform();
    while (u === 0) u = uniform();
    const r = Math.sqrt(-2 * Math.log(u)), th = 2 * Math.PI * uniform();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
  let idx = 0;
  for (let i = 0; i < nx; i++) {
    const wx = i * sp - half[0];
    const ux = (wx - centre[0]) / radii[0];
    for (let j = 0; j < ny; j++) {
      const wy = j * sp - half[1];
      const uy = (wy - centre[1]) / radii[1];
      for (let k = 0; k < nz; k++, idx++) {
        const wz = k * sp - half[2];
        const uz = (wz - centre[2]) / radii[2];
        const r = Math.sqrt(ux * ux + uy * uy + uz * uz);
        if (r > 1) continue; // background stays 0 (like skull-stripped data outside the head)
        let tissue: string;
        let lab = 0;
        const fold = 0.04 * Math.sin(gyri * Math.atan2(uy, ux) + phase) *
          Math.cos(gyri * 0.7 * Math.asin(Math.max(-1, Math.min(1, uz / (r || 1)))));
        const dv = Math.hypot(wx - tc[0], wy - tc[1], wz - tc[2]) / (tumourRadius || 1);
        // Ventricles: two lateral ellipsoids near the centre.
        const vL = ((ux + 0.13) / 0.09) ** 2 + (uy / 0.28) ** 2 + ((uz - 0.05) / 0.14) ** 2;
        const vR = ((ux - 0.13) / 0.09) ** 2 + (uy / 0.28) ** 2 + ((uz - 0.05) / 0.14) ** 2;
        if (r > 0.93) tissue = "skull";
        else if (r > 0.88 + fold * 0.3) tissue = "csf";
        else if (dv < 0.45) {
          tissue = "necrosis";
          lab = 2;
        } else if (dv < 0.75) {
          tissue = "enhancing";
          lab = 3;
        } else if (dv < 1.5 && r < 0.8) {
          tissue = "edema";
          lab = 1;
        } else if (vL < 1 || vR < 1) tissue = "csf";
        else if (r > 0.7 + fold) tissue = "grey";
        else tissue = "white";
        const b = 1 + bias[0] * ux + bias[1] * uy + bias[2] * uz + bias2 * (ux * ux - uy * uy);
        const t = TISSUE[tissue];
        for (let c = 0; c < 4; c++) {
          const v = t[c] * b + noiseSigma * gauss();
          image[c * n + idx] = Math.min(32767, Math.max(0, Math.round(v)));
        }
        label[idx] = lab;
      }
    }
  }
  const rasAffine = [[sp, 0, 0, -half[0]], [0, sp, 0, -half[1]], [0, 0, sp, -half[2]], [0, 0, 0, 1]];
  const ornt = orntTransform(ioOrientation(rasAffine), axcodesToOrnt(codes));
  const img = applyOrnt(makeVolume(image, [4, nx, ny, nz], rasAffine), ornt);
  const lbl = applyOrnt(makeVolume(label, [1, nx, ny, nz], rasAffine), ornt);
  return {
    image: img,
    label: lbl,
    axcodes: codes,
    tumour: { centre: [tc[0], tc[1], tc[2]], radius: tumourRadius },
  };
}

/** Options of {@link writeSyntheticDataset}. */
export interface SyntheticDatasetOptions extends PhantomOptions {
  /** Number of training cases (default 6). */
  numTraining?: number;
  /** Number of test images (default 0). */
  numTest?: number;
  /** Master seed (default 0); case i uses a seed derived from it. */
  seed?: number;
  /** gzip level of the written files (default 1: fast). */
  gzipLevel?: number;
}

/**
 * Writes a dataset with the Task01 layout under `root/Task01_BrainTumour/`: `imagesTr/BRATS_NNN.nii.gz`
 * (4-channel int16), `labelsTr/BRATS_NNN.nii.gz`, `imagesTs/`, `dataset.json`. Returns the task folder.
 */
export async function writeSyntheticDataset(
  root: string,
  options: SyntheticDatasetOptions = {},
): Promise<string> {
  const task = join(root, "Task01_BrainTumour");
  const numTraining = options.numTraining ?? 6, numTest = options.numTest ?? 0;
  for (const d of ["imagesTr", "labelsTr", "imagesTs"]) await Deno.mkdir(join(task, d), { recursive: true });
  const master = new MT19937((options.seed ?? 0) >>> 0);
  const training: { image: string; label: string }[] = [];
  const test: string[] = [];
  const level = options.gzipLevel ?? 1;
  for (let i = 0; i < numTraining + numTest; i++) {
    const ph = generatePhantom(master.nextUint32(), options);
    const id = `BRATS_${String(i + 1).padStart(3, "0")}.nii.gz`;
    if (i < numTraining) {
      await writeNifti(join(task, "imagesTr", id), ph.image, { dtype: "int16", gzipLevel: level });
      await writeNifti(join(task, "labelsTr", id), ph.label, { dtype: "uint8", gzipLevel: level });
      training.push({ image: `./imagesTr/${id}`, label: `./labelsTr/${id}` });
    } else {
      await writeNifti(join(task, "imagesTs", id), ph.image, { dtype: "int16", gzipLevel: level });
      test.push(`./imagesTs/${id}`);
    }
  }
  const datasetJson = {
    name: "BRATS",
    description:
      "Synthetic brain phantoms in the Medical Decathlon Task01_BrainTumour layout (ldm3d toolkit)",
    reference: "synthetic",
    licence: "CC-BY-SA 4.0",
    release: "synthetic 1.0",
    tensorImageSize: "4D",
    modality: { "0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w" },
    labels: { "0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour" },
    numTraining,
    numTest,
    training,
    test,
  };
  await Deno.writeTextFile(join(task, "dataset.json"), JSON.stringify(datasetJson, null, 2));
  return task;
}
