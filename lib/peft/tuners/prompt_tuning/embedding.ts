/**
 * HF's PromptEmbedding: a [numVirtualTokens * numTransformerSubmodules, tokenDim] table, N(0, 1) (RANDOM),
 * rows of the word embeddings at random ids (SAMPLE_VOCAB), or at the ids of promptTuningInitText,
 * repeated or cut to the number of virtual tokens (TEXT).
 */
import { loadTokenizer, type Tokenizer } from '../../../io/tokenizer';
import type { Embedding } from '../../../nn/layers/embedding';
import { copyInto } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { embedding } from '../../../ops/embedding/op';
import { randomInts } from '../prompt_learning/random';
import { PromptTable } from '../prompt_learning/table';
import type { PromptTuningConfig } from './config';

/** The init text's ids, repeated and cut to `total` as HF does. */
export function textInitIds(tokenizer: Tokenizer, text: string, total: number): number[] {
  const ids = tokenizer.encode(text);
  if (ids.length === 0) throw new Error(`PromptTuningConfig: promptTuningInitText ${JSON.stringify(text)} tokenizes to no ids`);
  const out: number[] = [];
  while (out.length < total) out.push(...ids);
  return out.slice(0, total);
}

function tokenizerOf(config: PromptTuningConfig): Tokenizer {
  if (config.tokenizer) return config.tokenizer;
  if (config.tokenizerNameOrPath) return loadTokenizer(config.tokenizerNameOrPath);
  throw new Error("PromptTuningConfig: promptTuningInit 'TEXT' needs a tokenizer: pass `tokenizer` (a Tokenizer) or a local tokenizerNameOrPath");
}

export function promptEmbedding(config: PromptTuningConfig, words: Embedding): PromptTable {
  const d = config.dims();
  const total = d.numVirtualTokens * d.numTransformerSubmodules;
  const table = new PromptTable(total, d.tokenDim);
  let ids: number[] | null = null;
  if (config.promptTuningInit === 'TEXT') ids = textInitIds(tokenizerOf(config), config.promptTuningInitText!, total);
  else if (config.promptTuningInit === 'SAMPLE_VOCAB') ids = randomInts(total, words.numEmbeddings);
  if (ids) {
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= words.numEmbeddings)
        throw new RangeError(`PromptTuningConfig: init token id ${id} is outside the model's vocabulary of ${words.numEmbeddings}`);
    noGrad(() => {
      const rows = embedding({ data: Int32Array.from(ids!), shape: [total] }, words.weight);
      copyInto(table.embedding.weight, rows);
      rows.dispose();
    });
  }
  return table;
}
