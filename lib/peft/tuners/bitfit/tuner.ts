/**
 * The BitFit tuner: selects the biases its config names and trains them in place (selection.ts keeps
 * the originals for disableAdapter/deleteAdapter). The backward of a Linear with a frozen W and a trained
 * bias runs the fused BitFit kernel (dx and db in one pass; see `linear` in lib/tensor/ops.ts).
 */
import type { PeftModel } from '../../peft_model';
import { coveredByModulesToSave, deleteSelection, parametersWithOwners, selectBaseParameters, selectedPaths, setSelectionDisabled } from '../../selection';
import { registerTuner, type Tuner } from '../../tuner';
import { BitFitConfig } from './config';

const bitfitTuner: Tuner<BitFitConfig> = {
  peftType: 'BITFIT',
  adapterPrefixes: [],

  inject(peft: PeftModel, config: BitFitConfig, name: string): void {
    const all = parametersWithOwners(peft.model).filter((p) => p.local === 'bias');
    if (all.length === 0) throw new Error('BitFit: the base model has no bias parameters (e.g. LLaMA has none); BitFit cannot train it');
    const chosen = all.filter((p) => config.selects(p.ownerPath) && !coveredByModulesToSave(p.ownerPath, config.modulesToSave));
    if (chosen.length === 0)
      throw new Error(`BitFit: targetModules ${JSON.stringify(config.targetModules)} select no bias; biases look like ${all.slice(0, 4).map((p) => p.path).join(', ')}`);
    selectBaseParameters(peft, name, chosen.map((p) => p.tensor), 'BitFit');
  },

  trainedBaseParameters: (peft) => selectedPaths(peft),
  setDisabled: setSelectionDisabled,
  deleteAdapter: deleteSelection,
};

registerTuner(bitfitTuner);
