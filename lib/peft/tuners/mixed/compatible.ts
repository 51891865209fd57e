/**
 * Which adapter types a PeftMixedModel mixes, and which adapter layers belong to which type: HF peft's
 * tuners/mixed/model.py (COMPATIBLE_TUNER_TYPES, Layers) and mixed_model.py (_check_config_compatible),
 * peft 5d602fd. HF mixes LORA, LOHA, LOKR, ADALORA, OFT and SHIRA; peftjs mixes LORA, LOHA, LOKR and OFT.
 * peftjs has no SHiRA, and AdaLoRA is left out: its rank allocator and its one-trainable-adapter rule
 * (AdaLoraModel's) assume the whole model is AdaLoRA's, which a mixed model is not.
 */
import type { Module } from '../../../nn/module';
import type { PeftConfig, PeftType } from '../../config';
import { LoHaLinear } from '../loha/layer';
import { LoKrLinear } from '../lokr/layer';
import { LoraEmbedding } from '../lora/embedding_layer';
import { LoraLinear } from '../lora/layer';
import { OFTLinear } from '../oft/layer';

/** The types a mixed model takes here (HF's COMPATIBLE_TUNER_TYPES less ADALORA and SHIRA, see above). */
export const COMPATIBLE_TUNER_TYPES: readonly PeftType[] = ['LORA', 'LOHA', 'LOKR', 'OFT'];

/**
 * Whether module m is an adapter layer of the given type: each type's _create_and_replace adds the adapter
 * to such a layer (isinstance(target, LoraLayer), ...) and wraps anything else, other types' layers included.
 */
export const isLayerOfType: Record<string, (m: Module) => boolean> = {
  LORA: (m) => m instanceof LoraLinear || m instanceof LoraEmbedding,
  LOHA: (m) => m instanceof LoHaLinear,
  LOKR: (m) => m instanceof LoKrLinear,
  OFT: (m) => m instanceof OFTLinear,
};

/** HF's _check_config_compatible, with its message (the types listed are the ones peftjs mixes). */
export function checkConfigCompatible(config: PeftConfig): void {
  const type = (config as { peftType?: unknown } | null)?.peftType;
  if (!COMPATIBLE_TUNER_TYPES.includes(type as PeftType)) {
    const why = type === 'ADALORA' ? ' (HF peft also mixes ADALORA; peftjs does not: its rank allocation assumes an AdaLoRA-only model)' : '';
    throw new Error(`The provided \`peft_type\` '${String(type)}' is not compatible with the \`PeftMixedModel\`. ` +
      `Compatible types are: ${COMPATIBLE_TUNER_TYPES.join(', ')}${why}`);
  }
}
