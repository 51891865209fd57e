/**
 * The trainable tokens tuner (HF's TrainableTokensModel, src/peft/tuners/trainable_tokens/model.py): wraps the
 * targeted embedding (by default the model's input embedding, by its path) in a TrainableTokensLayer; an LM
 * head tied to it (the same weight tensor, GPT-2's) gets a TiedTrainableTokensLayer that reads the embedding's
 * delta, as HF ties them. Saved as HF does: `base_model.model.<embedding>.trainable_tokens_delta` [k, dim].
 */
import { Embedding } from '../../../nn/layers/embedding';
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { findTargets } from '../../targets';
import { isAdapterLayer, registerTuner, type Tuner } from '../../tuner';
import { TrainableTokensConfig } from './config';
import { TiedTrainableTokensLayer, TrainableTokensLayer } from './layer';

/** HF's _get_input_embeddings_name: the path of the model's input embedding, or null. */
export function inputEmbeddingsPath(model: Module): string | null {
  let emb: unknown;
  try {
    emb = (model as unknown as { inputEmbeddings?: unknown }).inputEmbeddings;
  } catch {
    return null;
  }
  if (!emb) return null;
  const found = model.namedModules().find(([, m]) => m === emb);
  return found ? found[0] : null;
}

const ttTuner: Tuner<TrainableTokensConfig> = {
  peftType: 'TRAINABLE_TOKENS',
  adapterPrefixes: ['trainable_tokens_delta'],

  inject(peft: PeftModel, config: TrainableTokensConfig, name: string): void {
    const model = peft.model;
    if (config.targetModules === null) config.targetModules = inputEmbeddingsPath(model) ?? 'embed_tokens';
    if (config.tokenIndices.length === 0) throw new RangeError('TrainableTokensConfig: tokenIndices is empty; name the token ids whose embeddings train');
    const inside = new Set<Module>();
    for (const [, m] of model.namedModules()) if (isAdapterLayer(m)) for (const [p, c] of m.namedModules()) if (p !== '') inside.add(c);
    const accept = (m: Module) => !inside.has(m) && (m instanceof Embedding || m instanceof TrainableTokensLayer || m instanceof Linear || m instanceof TiedTrainableTokensLayer);
    const targets = findTargets(model, config, accept, 'TrainableTokens');
    const embeddings = targets.filter(([, m]) => m instanceof Embedding || m instanceof TrainableTokensLayer);
    const tables = new Set(embeddings.map(([, m]) => (m as Embedding | TrainableTokensLayer).weight));
    for (const [path, m] of targets) {
      const tiedHead = (m instanceof Linear && tables.has(m.weight)) || m instanceof TiedTrainableTokensLayer;
      if (!tiedHead && !embeddings.some(([p]) => p === path))
        throw new Error(`TrainableTokens: target '${path}' is a ${m.constructor.name}; trainable tokens adapt embedding layers (an LM head tied to a targeted embedding follows it by itself)`);
    }
    for (const [path, m] of embeddings) {
      const layer = m instanceof TrainableTokensLayer ? m : new TrainableTokensLayer(m as Embedding);
      const bad = config.tokenIndices.find((t) => t >= layer.numEmbeddings);
      if (bad !== undefined) throw new RangeError(`TrainableTokensConfig: tokenIndices holds ${bad}, outside the vocabulary of '${path}' (${layer.numEmbeddings} rows)`);
      if (layer !== m) model.setSubmodule(path, layer);
      layer.addAdapter(name, config.tokenIndices, config.initWeights);
      // Weight tying (HF's inject_adapter): every Linear whose weight is this table follows the adapter.
      for (const [headPath, head] of model.namedModules()) {
        if (inside.has(head)) continue;
        if (head instanceof Linear && head.weight === layer.base_layer.weight) {
          const tied = new TiedTrainableTokensLayer(head, layer);
          model.setSubmodule(headPath, tied);
          tied.addAdapter(name);
        } else if (head instanceof TiedTrainableTokensLayer && head.tied === layer) head.addAdapter(name);
      }
    }
  },
};

registerTuner(ttTuner);
