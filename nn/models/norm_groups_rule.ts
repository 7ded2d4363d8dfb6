/** A rule shared by the models with GroupNorm at every level. */
import type { RuleProblem } from "../args/declare.ts";

/** `normNumGroups` must divide every level's channel count (GroupNorm splits channels into groups). */
export function normGroupsDivideChannels(a: { channels: number[]; normNumGroups: number }): RuleProblem[] {
  const bad = a.channels.filter((c) => c % a.normNumGroups !== 0);
  return bad.length
    ? [{ arg: "normNumGroups", message: `${a.normNumGroups} does not divide channels ${bad.join(", ")}` }]
    : [];
}
