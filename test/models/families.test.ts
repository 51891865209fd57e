/**
 * Qwen2, Qwen3, Gemma, Mistral and Gemma 2 against PyTorch's numbers (test/fixtures/model/make_families_golden.py transcribes
 * HF's modeling code): each tiny model (2 layers, hidden 64, 4 heads, 2 KV heads, vocab 256) is loaded from
 * its HF folder through AutoModelForCausalLM, and its logits, loss and every parameter's gradient on a padded
 * batch match to 1e-4 relative on every CPU backend; 16 greedy tokens through the KV cache equal the script's.
 * Mistral's and Gemma 2's sliding window (4) is shorter than their batch (11 tokens) and than the prompt plus
 * the generated tokens (21), so the window hides keys in training and in cached generation; Gemma 2's
 * attention and final logits are soft-capped hard enough to bend them.
 */
import * as path from 'path';
import { GemmaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, setBackend } from '../../lib';
import { Gemma2ForCausalLM } from '../../lib/nn/models/gemma2/model';
import { MistralForCausalLM } from '../../lib/nn/models/mistral/model';
import { backendsWithKernels } from '../helpers/backends';
import { describeFamilyGoldens } from '../helpers/family_goldens';

const FAMILIES = path.join(__dirname, '..', 'fixtures', 'model', 'families');
const CLASSES = {
  qwen2: Qwen2ForCausalLM, qwen3: Qwen3ForCausalLM, gemma: GemmaForCausalLM, mistral: MistralForCausalLM, gemma2: Gemma2ForCausalLM,
} as const;


describe.each(backendsWithKernels('rmsNormForward', 'rmsNormBackward', 'embeddingForward', 'rope', 'attentionForward', 'attentionBackward', 'crossEntropyForward'))('model families against PyTorch on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  describeFamilyGoldens(FAMILIES, CLASSES);
});
