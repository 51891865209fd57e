/**
 * The VeRA tuner (HF's VeraModel, src/peft/tuners/vera/model.py). The first adapter draws the shared
 * projections vera_A [r, max in] and vera_B [max out, r] from projection_prng_key, sized by the largest
 * targeted in and out features (_find_dim); every later adapter reuses them, and is refused as HF refuses
 * it when its key or save_projection differ, or when a targeted layer is wider, taller or of higher rank
 * than the projections hold. Saved as HF does: `base_model.model.<module>.vera_lambda_b` / `_d`, and with
 * save_projection `base_model.vera_A` / `base_model.vera_B`; without them loading regenerates the
 * projections from the key (bit for bit, see prng.ts).
 */
import { FileFormatError } from '../../../io/errors';
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import { copyInto } from '../../../nn/module';
import type { Tensor } from '../../../tensor/tensor';
import type { PeftModel } from '../../peft_model';
import { loadByKeys, savedKey } from '../../save_load';
import { findTargets, isTargeted } from '../../targets';
import { registerTuner, type Tuner } from '../../tuner';
import { fillDefaultTargets } from '../../target_module_mapping';
import { VeraConfig } from './config';
import { frozenTensor, VeraLinear, VeraProjections } from './layer';
import { veraProjections } from './prng';

const PREFIX = 'base_model.model.';
const KEY_A = 'base_model.vera_A';
const KEY_B = 'base_model.vera_B';

/** Each PeftModel's shared projections (HF keeps them on the VeraModel as buffers). */
const shared = new WeakMap<PeftModel, VeraProjections>();

export function veraProjectionsOf(peft: PeftModel): VeraProjections | null {
  return shared.get(peft) ?? null;
}

function dims(m: Linear | Conv1D | VeraLinear): { inF: number; out: number } {
  return { inF: m.inFeatures, out: m.outFeatures };
}

const veraTuner: Tuner<VeraConfig> = {
  peftType: 'VERA',
  adapterPrefixes: ['vera_lambda_b', 'vera_lambda_d'],
  fileKeys: true,

  inject(peft: PeftModel, config: VeraConfig, name: string): void {
    const model = peft.model;
    fillDefaultTargets(model, config, 'VeRA');
    config.validate();
    const accept = (m: Module) => m instanceof Linear || m instanceof Conv1D || m instanceof VeraLinear;
    for (const [key, m] of model.namedModules()) {
      if (key === '' || !isTargeted(config, key, m) || accept(m)) continue;
      throw new TypeError(`VeRA: target module '${key}' (${m.constructor.name}) is not supported; currently only Linear and Conv1D are supported`);
    }
    const targets = findTargets(model, config, accept, 'VeRA') as [string, Linear | Conv1D | VeraLinear][];
    let proj = shared.get(peft);
    if (!proj) {
      // _find_dim: the largest (out, in) over the targets, each dimension on its own.
      const maxIn = Math.max(...targets.map(([, m]) => dims(m).inF));
      const maxOut = Math.max(...targets.map(([, m]) => dims(m).out));
      const { a, b } = veraProjections(config.projectionPrngKey, config.r, maxIn, maxOut);
      proj = new VeraProjections(frozenTensor(a, [config.r, maxIn]), frozenTensor(b, [maxOut, config.r]), config.projectionPrngKey, config.saveProjection);
      shared.set(peft, proj);
    } else {
      // VeraModel._check_new_adapter_config and VeraLayer.update_layer, for an adapter after the first.
      if (proj.prngKey !== config.projectionPrngKey)
        throw new RangeError(`VeraConfig: projectionPrngKey must be the same for all adapters; got ${config.projectionPrngKey} but previous config had ${proj.prngKey}`);
      if (proj.saveProjection !== config.saveProjection)
        throw new RangeError(`VeraConfig: VeRA projection weights must be saved for all adapters or none (saveProjection ${config.saveProjection}, previously ${proj.saveProjection})`);
      for (const [path, m] of targets) {
        const { inF, out } = dims(m);
        const tmpl = (what: string, has: number, need: number) =>
          `VeRA: ${what} has a size of ${has} but ${need} or greater is required at '${path}'; this probably happened because an additional VeRA adapter was added after the first one with incompatible shapes (targetModules)`;
        if (proj.maxIn < inF) throw new RangeError(tmpl('vera_A', proj.maxIn, inF));
        if (proj.maxOut < out) throw new RangeError(tmpl('vera_B', proj.maxOut, out));
        if (proj.r < config.r)
          throw new RangeError(`VeRA: vera_A has a size of ${proj.r} but ${config.r} or greater is required (r); an additional VeRA adapter with a lower rank was added after the first one; loading the adapters in reverse order may solve this`);
      }
    }
    for (const [path, m] of targets) {
      const layer = m instanceof VeraLinear ? m : new VeraLinear(m);
      if (layer !== m) model.setSubmodule(path, layer);
      // HF corrects fan_in_fan_out to the layer's layout (with a warning); the layer reads its layout itself.
      config.fanInFanOut = layer.fanInFanOut;
      layer.addAdapter(name, config.r, proj, { dropout: config.veraDropout, initWeights: config.initWeights, dInitial: config.dInitial });
    }
  },

  stateDict(peft: PeftModel, name: string): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [p, t] of peft.adapterParameters(name)) out.set(PREFIX + savedKey(p, name), t);
    const config = peft.peftConfig.get(name) as VeraConfig;
    const proj = shared.get(peft);
    if (config.saveProjection && proj) {
      out.set(KEY_A, proj.vera_A);
      out.set(KEY_B, proj.vera_B);
    }
    return out;
  },

  loadStateDict(peft: PeftModel, name: string, tensors: Map<string, Tensor>, file: string): void {
    const config = peft.peftConfig.get(name) as VeraConfig;
    const proj = shared.get(peft)!;
    const own = veraTuner.stateDict!(peft, name) as Map<string, Tensor>;
    own.delete(KEY_A);
    own.delete(KEY_B);
    const rest = new Map([...tensors].filter(([k]) => k !== KEY_A && k !== KEY_B));
    const hasA = tensors.has(KEY_A), hasB = tensors.has(KEY_B);
    if (config.saveProjection && (!hasA || !hasB))
      throw new FileFormatError('adapter weights', file, `save_projection is true but '${!hasA ? KEY_A : KEY_B}' is not in the file (specified to load vera_A and vera_B from the state dict, however they were not present)`);
    loadByKeys(own, rest, file);
    // With save_projection false HF keeps the projections drawn from the key, whatever the file holds.
    if (!config.saveProjection) return;
    for (const [key, target] of [[KEY_A, proj.vera_A], [KEY_B, proj.vera_B]] as const) {
      const src = tensors.get(key)!;
      if (src.shape.join(',') !== target.shape.join(','))
        throw new FileFormatError('adapter weights', file, `'${key}' has shape [${src.shape.join(', ')}], the model's VeRA projection has [${target.shape.join(', ')}]`);
      copyInto(target, src);
    }
    proj.invalidate();
  },

  trainedBaseParameters(peft: PeftModel, config: VeraConfig): string[] {
    if (config.bias === 'none') return [];
    return peft.model.namedParameters().map(([p]) => p).filter((p) => {
      if (!p.endsWith('.bias') || p.includes('.vera_')) return false;
      return config.bias === 'all' || p.endsWith('.base_layer.bias');
    });
  },

  deleteAdapter(peft: PeftModel, name: string): void {
    if ([...peft.peftConfig.keys()].every((n) => n === name)) {
      shared.get(peft)?.dispose();
      shared.delete(peft);
    }
  },
};

registerTuner(veraTuner);
