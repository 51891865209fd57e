/** The smallest model folder the CLI specs train: a byte-level Llama of one 16-wide layer. */
import * as path from 'path';
import { manualSeed } from '../../lib';
import { baseConfig } from '../../lib/cli/compare/base_model';
import { ByteTokenizer, BYTE_TOKENIZER_FILE } from '../../lib/io';
import { LlamaForCausalLM } from '../../lib/nn/models/llama/model';
import { saveModelFolder } from '../../lib/nn/models/save_pretrained';

/** Writes config, weights (drawn under seed 3, so every spec trains the same model) and byte tokenizer into dir. */
export function saveTinyByteLlama(dir: string): void {
  manualSeed(3);
  const spec = { vocabSize: 259, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, context: 32, steps: 1, batchSize: 1, lr: 0, seed: 1 };
  saveModelFolder(new LlamaForCausalLM(baseConfig(spec, new ByteTokenizer())), dir);
  new ByteTokenizer().save(path.join(dir, BYTE_TOKENIZER_FILE));
}
