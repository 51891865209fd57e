/**
 * Where a resumed run continues in its epoch when the checkpoint was written at another global batch size
 * (another world size, or another per-rank batch size: lib/train/distributed.ts).
 *
 * The epoch's example order does not depend on the world size (one permutation from the shuffle seed, the
 * same on every rank), and a data-parallel run consumes it in global batches of worldSize * batchSize
 * examples, global batch k holding order[k*G, (k+1)*G). So a checkpoint at batchInEpoch k of a run with
 * global batch G has trained exactly the examples order[0, k*G) of the epoch, whatever the world size was.
 *
 * A run resumed with global batch G' continues from the next whole global batch at the new size:
 * batchInEpoch' = ceil(k*G / G'). When G divides into G' evenly (in particular G' = G, e.g. 2 ranks at
 * batch 2 resumed as 1 process at batch 4) nothing is skipped and the run continues on exactly the global
 * batches the old size would have used; otherwise up to G'-1 examples of this epoch (those between k*G and
 * the next multiple of G') are skipped, never trained twice, and the count is reported. When no whole batch
 * of the epoch is left the run moves on to the next epoch. (The alternative, a first batch starting at
 * k*G, would shift every later batch of the epoch off the G' grid and make the epoch's batch count and
 * progress depend on the resume history; skipping less than one batch keeps the plan simple.)
 *
 * The step plan is not remapped: the schedule runs in optimizer steps, so a resume at another global batch
 * keeps the checkpoint's totalSteps (Trainer.loadCheckpoint refuses a different one with an error that says
 * to pass maxSteps).
 */

export interface GlobalBatch {
  worldSize: number;
  /** Per rank. */
  batchSize: number;
}

export interface MappedPosition {
  /** The batch (of the new global size) the resumed run starts its epoch at. */
  batchInEpoch: number;
  /** True when the saved epoch has no whole new-size batch left: continue at batch 0 of the next epoch. */
  nextEpoch: boolean;
  /** Examples of the saved epoch trained before the checkpoint. */
  examplesDone: number;
  /** Examples of the saved epoch the resumed run skips (fewer than one new global batch). */
  skipped: number;
}

/** Maps a checkpoint's position in its epoch (batchInEpoch at `from`) onto global batches of size `to`. */
export function mapDataPosition(batchInEpoch: number, from: GlobalBatch, to: GlobalBatch, examples: number): MappedPosition {
  for (const [name, v] of [['batchInEpoch', batchInEpoch], ['examples', examples]] as const)
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`mapDataPosition: ${name} must be a non-negative integer, got ${v}`);
  for (const [name, g] of [['from', from], ['to', to]] as const)
    if (!(Number.isInteger(g.worldSize) && g.worldSize >= 1 && Number.isInteger(g.batchSize) && g.batchSize >= 1))
      throw new RangeError(`mapDataPosition: ${name} must have positive integer worldSize and batchSize, got ${JSON.stringify(g)}`);
  const done = Math.min(batchInEpoch * from.worldSize * from.batchSize, examples);
  const size = to.worldSize * to.batchSize;
  const k = Math.ceil(done / size);
  if (k * size >= examples) return { batchInEpoch: 0, nextEpoch: examples > 0, examplesDone: done, skipped: examples - done };
  return { batchInEpoch: k, nextEpoch: false, examplesDone: done, skipped: k * size - done };
}
