/**
 * How Hugging Face splits a state dict into safetensors shards (huggingface_hub's
 * split_state_dict_into_shards_factory, used by transformers' save_pretrained), so a folder saved here
 * has the same shards and index as one saved from Python with the same max_shard_size:
 * walk the tensors in order; a tensor larger than the limit gets a shard of its own (placed where the
 * walk meets it, before the shard being filled); a tensor that would tip the current shard over the
 * limit starts a new one. One shard is "model.safetensors" and needs no index; N shards are
 * "model-00001-of-0000N.safetensors" and so on.
 */

/** transformers' default max_shard_size "5GB" (decimal: 5 * 10^9 bytes). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;
export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** model-00002-of-00003.safetensors: five digits, as huggingface_hub formats them. */
export function shardFileName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/** Matches any shard name of the pattern, to find stale shards of an earlier save. */
export const SHARD_NAME_PATTERN = /^model-\d{5,}-of-\d{5,}\.safetensors$/;

export interface ShardPlan {
  /** Each shard's tensor names, in the order of the input. */
  shards: string[][];
  /** The file of each shard. */
  files: string[];
  /** Bytes of tensor data over all shards (the index's metadata.total_size). */
  totalSize: number;
}

/** Splits (name, byte size) pairs, in state-dict order, into shards of at most maxShardBytes (see above). */
export function planShards(sizes: readonly (readonly [string, number])[], maxShardBytes: number): ShardPlan {
  const shards: string[][] = [];
  let current: string[] = [];
  let currentSize = 0;
  let totalSize = 0;
  for (const [name, size] of sizes) {
    totalSize += size;
    if (size > maxShardBytes) {
      shards.push([name]);
      continue;
    }
    if (currentSize + size > maxShardBytes) {
      shards.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(name);
    currentSize += size;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);  // no tensors: one empty file
  const files = shards.length === 1 ? [SINGLE_FILE] : shards.map((_, i) => shardFileName(i, shards.length));
  return { shards, files, totalSize };
}
