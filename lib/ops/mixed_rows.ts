/**
 * A mixed batch's rows: a per-row adapter index (NO_ADAPTER for the base only) grouped into runs of
 * consecutive rows that use the same adapter (a sample's tokens are consecutive rows).
 */

/** The sentinel in a per-row adapter index for rows that use no adapter. */
export const NO_ADAPTER = -1;

/** A run of consecutive rows [start, end) that use the same adapter. */
export interface Run {
  start: number;
  end: number;
  adapter: number;
}

export function runsOf(rowAdapter: ArrayLike<number>, rows: number, adapters: number, op: string): Run[] {
  if (rowAdapter.length !== rows) throw new RangeError(`${op}: the adapter index has ${rowAdapter.length} entries, expected one per row (${rows})`);
  const runs: Run[] = [];
  for (let t = 0; t < rows; t++) {
    const i = rowAdapter[t];
    if (!Number.isInteger(i) || i < NO_ADAPTER || i >= adapters)
      throw new RangeError(`${op}: row ${t} names adapter ${i}, expected -1 (none) or 0..${adapters - 1}`);
    const last = runs[runs.length - 1];
    if (last && last.adapter === i && last.end === t) last.end = t + 1;
    else runs.push({ start: t, end: t + 1, adapter: i });
  }
  return runs.filter((r) => r.adapter !== NO_ADAPTER);
}
