/**
 * The family_step rows' models (issue 20): the same-size decoder (L layers, width d, MLP width F, H heads,
 * KV key/value heads, vocabulary V) as each family builds it, with HF's module names, so that LoRA goes on
 * the family's own linear layers: Llama, Qwen3 (q_norm / k_norm per head), Gemma 2 (GeGLU, (1 + w)
 * RMSNorms around attention and MLP, soft-capped attention and logits, alternating sliding windows, tied
 * head) and Phi-3 (fused qkv_proj and gate_up_proj). bench/torch_lora_step.py builds the same four in torch.
 */
import { Gemma2Config } from '../lib/nn/models/gemma2/config';
import { Gemma2ForCausalLM } from '../lib/nn/models/gemma2/model';
import { LlamaConfig, type LlamaLikeConfig } from '../lib/nn/models/llama/config';
import { LlamaForCausalLM } from '../lib/nn/models/llama/model';
import { Phi3Config } from '../lib/nn/models/phi3/config';
import { Phi3ForCausalLM } from '../lib/nn/models/phi3/model';
import { Qwen3Config } from '../lib/nn/models/qwen3/config';
import { Qwen3ForCausalLM } from '../lib/nn/models/qwen3/model';

export const FAMILIES = ['llama', 'qwen3', 'gemma2', 'phi3'] as const;
export type Family = (typeof FAMILIES)[number];

export interface FamilyShape {
  L: number;
  d: number;
  F: number;
  H: number;
  KV: number;
  V: number;
  T: number;
}

/** The linear layers LoRA goes on: every one in the blocks (Phi-3's are fused). */
export function familyLinears(family: Family): string[] {
  return family === 'phi3' ? ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'] : ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
}

/** The model, built without initial values (the caller draws them). */
export function buildFamilyModel(family: Family, s: FamilyShape): LlamaForCausalLM<LlamaLikeConfig> {
  const common = {
    vocabSize: s.V, hiddenSize: s.d, intermediateSize: s.F, numHiddenLayers: s.L, numAttentionHeads: s.H,
    numKeyValueHeads: s.KV, maxPositionEmbeddings: Math.max(s.T, 16),
  };
  const headDim = s.d / s.H;
  switch (family) {
    case 'llama': return new LlamaForCausalLM(new LlamaConfig(common));
    case 'qwen3': return new Qwen3ForCausalLM(new Qwen3Config({ ...common, headDim, tieWordEmbeddings: false }));
    // Gemma 2's defaults otherwise (soft-caps 50 / 30, window 4096, tied head); 1/sqrt(head_dim) scores.
    case 'gemma2': return new Gemma2ForCausalLM(new Gemma2Config({ ...common, headDim, queryPreAttnScalar: headDim }));
    case 'phi3': return new Phi3ForCausalLM(new Phi3Config({ ...common, originalMaxPositionEmbeddings: Math.max(s.T, 16) }));
  }
}
