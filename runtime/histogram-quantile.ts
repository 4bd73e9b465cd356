/**
 * The q-quantile (0–1) of what was observed between two scrapes of a histogram, interpolated linearly inside
 * its bucket as Prometheus' `histogram_quantile` does; NaN when nothing was observed.
 */
export function quantileBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    const below = i === 0 ? 0 : counts[i - 1]!;
    // Past the last finite bound there is nothing to interpolate to: that bound is the answer, as in Prometheus.
    if (bounds[i] === Infinity) return lower;
    return lower + ((bounds[i]! - lower) * (rank - below)) / (counts[i]! - below);
  }
  return bounds[bounds.length - 2] ?? Number.NaN;
}
