/**
 * The adaption prompt tuner (HF's AdaptionPromptModel, src/peft/tuners/adaption_prompt/model.py and
 * config.py prepare_config): for a supported model type (llama, mistral, gpt2) the modules named
 * target_modules (default: the type's attention) are found by path suffix in module order, and the top
 * adapter_layers of them are wrapped in AdaptedAttention. Saved as HF's get_peft_model_state_dict keeps it
 * (every state-dict entry whose last name starts with `adaption_`, no adapter name in the key):
 * `base_model.model.<layer>.<target>.adaption_prompt` [1, adapter_len, hidden] and `.adaption_gate` [1].
 * Nothing to merge (HF's model has no merge). Unlike HF, whose _freeze_adapter looks for the adapter's name
 * in the parameter names and so leaves loaded prompts trainable, a folder loaded without isTrainable is frozen
 * as every other method's is here.
 */
import { GPT2Attention } from '../../../nn/models/gpt2/model';
import { LlamaAttention } from '../../../nn/models/llama/model';
import type { Tensor } from '../../../tensor/tensor';
import type { PeftModel } from '../../peft_model';
import { loadByKeys } from '../../save_load';
import { registerTuner, type Tuner } from '../../tuner';
import { modelTypeOf } from '../ia3/defaults';
import { ADAPTION_PROMPT_MODEL_TYPES, AdaptionPromptConfig } from './config';
import { AdaptedAttention } from './layer';

/** Every wrapper of the model with its path. */
function wrappers(peft: PeftModel): [string, AdaptedAttention][] {
  return peft.model.namedModules().filter((e): e is [string, AdaptedAttention] => e[1] instanceof AdaptedAttention);
}

/** The adapter's tensors under their saved keys (relative to the base model), active or not. */
function promptTensors(peft: PeftModel, name: string): [string, Tensor][] {
  return wrappers(peft).flatMap(([path, w]) => {
    const p = w.promptOf(name);
    return p ? [[`${path}.adaption_prompt`, p.prompt], [`${path}.adaption_gate`, p.gate]] as [string, Tensor][] : [];
  });
}

const adaptionPromptTuner: Tuner<AdaptionPromptConfig> = {
  peftType: 'ADAPTION_PROMPT',
  adapterPrefixes: [],
  mergeable: false,

  inject(peft: PeftModel, config: AdaptionPromptConfig, name: string): void {
    const model = peft.model;
    const type = modelTypeOf(model);
    const known = type === null ? undefined : ADAPTION_PROMPT_MODEL_TYPES[type];
    if (!known) throw new Error(`AdaptionPrompt: Unsupported model type for adaption prompt: '${type}' (supported: ${Object.keys(ADAPTION_PROMPT_MODEL_TYPES).join(', ')})`);
    config.targetModules ??= known.targetModules;
    config.validate();
    const target = config.targetModules, layers = config.adapterLayers!;
    const found = model.namedModules().filter(([path]) => path.endsWith(`.${target}`));
    if (found.length < layers)
      throw new RangeError(`AdaptionPrompt: Config specifies more adapter layers '${layers}' than the model has '${found.length}' (modules named '${target}')`);
    const kind = type === 'gpt2' ? 'gpt2' : 'llama';
    for (const [path, m] of found.slice(found.length - layers)) {
      let wrapper: AdaptedAttention;
      if (m instanceof AdaptedAttention) wrapper = m;
      else {
        const ok = kind === 'gpt2' ? m instanceof GPT2Attention : m instanceof LlamaAttention;
        if (!ok) throw new TypeError(`AdaptionPrompt: '${path}' is a ${m.constructor.name}; adaption prompts wrap the ${type} attention (${kind === 'gpt2' ? 'GPT2Attention' : 'LlamaAttention'})`);
        wrapper = new AdaptedAttention(m as LlamaAttention | GPT2Attention, kind);
        model.setSubmodule(path, wrapper);
      }
      wrapper.addAdapter(name, config.adapterLen!);
    }
  },

  stateDict(peft: PeftModel, name: string): Map<string, Tensor> {
    return new Map(promptTensors(peft, name));
  },

  loadStateDict(peft: PeftModel, name: string, tensors: Map<string, Tensor>, file: string): void {
    loadByKeys(new Map(promptTensors(peft, name)), tensors, file);
  },

  /** Where adapterParameters finds them: no adapter name is in their paths (HF's names). */
  extraParameters(peft: PeftModel, name: string): [string, Tensor][] {
    return promptTensors(peft, name);
  },
};

registerTuner(adaptionPromptTuner);

