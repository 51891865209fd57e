/**
 * The layer-freezing tuner: every base parameter trains except the embeddings (when freezeEmbeddings)
 * and those of the first numFrozenLayers blocks. Embeddings are the parameters of Embedding modules and of
 * a module named `embeddings` (BERT's, whose LayerNorm belongs with them). A tied output head (GPT-2's
 * lm_head is wte) is the embedding tensor, so it freezes with it.
 */
import { Embedding } from '../../../nn/layers/embedding';
import { ModuleList } from '../../../nn/layers/module_list';
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { coveredByModulesToSave, deleteSelection, parametersWithOwners, selectBaseParameters, selectedPaths, setSelectionDisabled } from '../../selection';
import { registerTuner, type Tuner } from '../../tuner';
import { LayerFreezingConfig } from './config';

/** Where each family keeps its transformer blocks. */
export const BLOCK_LISTS = ['model.layers', 'transformer.h', 'bert.encoder.layer'] as const;

/** The model's block list: its path and length. */
export function findBlockList(model: Module): { path: string; length: number } {
  for (const path of BLOCK_LISTS) {
    let m: Module;
    try {
      m = model.getSubmodule(path);
    } catch {
      continue;
    }
    if (m instanceof ModuleList) return { path, length: m.length };
  }
  throw new Error(`LayerFreezing: the model has none of the block lists ${BLOCK_LISTS.join(', ')}`);
}

const layerFreezingTuner: Tuner<LayerFreezingConfig> = {
  peftType: 'LAYER_FREEZING',
  adapterPrefixes: [],

  inject(peft: PeftModel, config: LayerFreezingConfig, name: string): void {
    const blocks = findBlockList(peft.model);
    if (config.numFrozenLayers > blocks.length)
      throw new RangeError(`LayerFreezing: numFrozenLayers is ${config.numFrozenLayers} but the model has ${blocks.length} blocks (${blocks.path})`);
    const frozenBlock = (ownerPath: string) => {
      if (!ownerPath.startsWith(`${blocks.path}.`)) return false;
      const index = Number(ownerPath.slice(blocks.path.length + 1).split('.')[0]);
      return index < config.numFrozenLayers;
    };
    const embedding = (ownerPath: string, owner: Module) =>
      owner instanceof Embedding || ownerPath === 'embeddings' || ownerPath.endsWith('.embeddings') || ownerPath.includes('.embeddings.') || ownerPath.startsWith('embeddings.');
    const chosen = parametersWithOwners(peft.model).filter((p) =>
      !frozenBlock(p.ownerPath) && !(config.freezeEmbeddings && embedding(p.ownerPath, p.owner)) && !coveredByModulesToSave(p.ownerPath, config.modulesToSave));
    selectBaseParameters(peft, name, chosen.map((p) => p.tensor), 'LayerFreezing');
  },

  trainedBaseParameters: (peft) => selectedPaths(peft),
  setDisabled: setSelectionDisabled,
  deleteAdapter: deleteSelection,
};

registerTuner(layerFreezingTuner);
