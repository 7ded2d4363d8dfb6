/** Channel selection (`Lambdad(x[channel])` + EnsureChannelFirst(no_channel)): keeps one channel as `[1, X, Y, Z]`. */
import type { Volume } from "../volume.ts";
import type { Transform } from "./transform.ts";

/** Keeps channel `channel` of a `[C, X, Y, Z]` volume → `[1, X, Y, Z]` (FLAIR is channel 0 in Task01). */
export function selectChannel(channel: number): Transform {
  return {
    name: "selectChannel",
    params: { channel },
    random: false,
    apply(v: Volume): Volume {
      const [nc, nx, ny, nz] = v.shape;
      if (!Number.isInteger(channel) || channel < 0 || channel >= nc) {
        throw new Error(`selectChannel: channel ${channel} out of range for a volume with ${nc} channel(s)`);
      }
      const n = nx * ny * nz;
      return {
        data: v.data.slice(channel * n, (channel + 1) * n),
        shape: [1, nx, ny, nz],
        affine: v.affine.map((r) => r.slice()),
        spacing: [...v.spacing],
      };
    },
  };
}
