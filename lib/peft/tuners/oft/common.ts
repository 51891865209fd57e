/**
 * What the OFT and BOFT tuners share: their config checks, the injection into Linear layers (HF's OFTModel
 * and BOFTModel dispatch torch.nn.Linear and Conv2d; peftjs has no convolutions, and both HF tuners refuse
 * transformers' Conv1D (GPT-2's c_attn), so Linear only), and the trainable biases of `bias` 'all' /
 * '<method>_only' (BaseTuner._mark_only_adapters_as_trainable and _get_learnable_bias_state_dict: saved as
 * `<module>.base_layer.bias` for the targeted modules, every `.bias` for 'all').
 */
import { Linear } from '../../../nn/layers/linear';
import { QuantizedLinear } from '../../../quant/quantized_linear';
import type { Module } from '../../../nn/module';
import type { PeftModel } from '../../peft_model';
import { fillDefaultTargets } from '../../target_module_mapping';
import { findTargets, isTargeted, type TargetSelection } from '../../targets';

export function checkNonNegativeInt(cls: string, field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`${cls}: ${field} must be a non-negative integer, got ${JSON.stringify(v)}`);
}

export function checkBias(cls: string, v: unknown, only: string): void {
  if (!['none', 'all', only].includes(v as string)) throw new RangeError(`${cls}: bias must be 'none', 'all' or '${only}', got ${JSON.stringify(v)}`);
}

/**
 * The targeted Linear layers (quantized ones too with acceptQuantized: OFT, as HF's oft/bnb.py), or the method's
 * layers already there, each handed to `add`; anything else refused as HF does.
 */
export function injectLinear<L extends Module>(peft: PeftModel, config: TargetSelection & { targetModules: string[] | string | null }, method: string,
  isLayer: (m: Module) => m is L, make: (base: Linear | QuantizedLinear) => L, add: (layer: L, path: string) => void, acceptQuantized = false): void {
  const model = peft.model;
  fillDefaultTargets(model, config, method);
  const isBase = (m: Module) => m instanceof Linear || (acceptQuantized && m instanceof QuantizedLinear);
  for (const [key, m] of model.namedModules()) {
    if (key === '' || !isTargeted(config, key, m) || isBase(m) || isLayer(m)) continue;
    throw new TypeError(`${method}: target module '${key}' of type ${m.constructor.name} is not supported; currently only Linear layers ` +
      `${acceptQuantized ? '(float or quantized) ' : ''}are supported (HF peft's ${method} adapts torch.nn.Linear and Conv2d, and refuses transformers' Conv1D the same way)`);
  }
  for (const [path, m] of findTargets(model, config, (mod) => isBase(mod) || isLayer(mod), method)) {
    const layer = isLayer(m) ? m : make(m as Linear | QuantizedLinear);
    if (layer !== m) model.setSubmodule(path, layer);
    add(layer, path);
  }
}

/** The base biases an adapter trains and saves: none, every `.bias` ('all'), or its layers' `base_layer.bias`. */
export function learnableBiases(peft: PeftModel, bias: string, marker: string): string[] {
  if (bias === 'none') return [];
  return peft.model.namedParameters().map(([p]) => p).filter((p) => {
    if (!p.endsWith('.bias') || p.includes(marker)) return false;
    return bias === 'all' || p.endsWith('.base_layer.bias');
  });
}

/** HF prints these with warnings.warn. */
export function warn(message: string): void {
  console.warn(`peft: ${message}`);
}
