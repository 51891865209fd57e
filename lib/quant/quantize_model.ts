/**
 * Quantizing a model's frozen linear layers in place: every Linear (and GPT-2 Conv1D) becomes a
 * QuantizedLinear holding its weight in the chosen format, one layer at a time (each float32 weight is
 * freed as soon as its packed form exists). Embeddings, norms and the output heads (lm_head, classifier,
 * score) stay float32, as HF keeps them under BitsAndBytesConfig (llm_int8_skip_modules defaults to the
 * head). HF's BitsAndBytesConfig field names are accepted in camelCase (quantizationConfigFormat).
 */
import { getBackend } from '../backend';
import { Conv1D } from '../nn/layers/conv1d';
import { Linear } from '../nn/layers/linear';
import type { Module } from '../nn/module';
import { noGrad } from '../tensor/autograd';
import type { Tensor } from '../tensor/tensor';
import type { WeightFormat } from '../ops/dequantize/kernel';
import { COMPUTE_DTYPES, type ComputeDtype, QuantizedLinear } from './quantized_linear';
import { type QuantizeOptions, QuantizedTensor } from './quantized_tensor';

/** HF's BitsAndBytesConfig, camelCase. */
export interface QuantizationConfig {
  loadIn4bit?: boolean;
  loadIn8bit?: boolean;
  bnb4bitQuantType?: 'nf4' | 'fp4';
  bnb4bitUseDoubleQuant?: boolean;
  bnb4bitComputeDtype?: 'float32' | 'bfloat16';
  llmInt8SkipModules?: string[] | null;
}

const CONFIG_KEYS = ['loadIn4bit', 'loadIn8bit', 'bnb4bitQuantType', 'bnb4bitUseDoubleQuant', 'bnb4bitComputeDtype', 'llmInt8SkipModules'];
const DEFAULT_SKIP = ['lm_head', 'classifier', 'score'];

export interface ModelQuantization extends QuantizeOptions {
  format: WeightFormat;
  /** Module names (the last part of a path) left in float32; default the output heads. */
  skipModules?: string[];
  /** The precision the quantized layers multiply in (QuantizedLinear.computeDtype); default float32. */
  computeDtype?: ComputeDtype;
}

/** The quantization a BitsAndBytesConfig asks for; unknown keys and contradictions are errors. */
export function quantizationConfigFormat(cfg: QuantizationConfig): ModelQuantization {
  const op = 'quantizationConfig';
  if (typeof cfg !== 'object' || cfg === null) throw new TypeError(`${op}: expected an object, got ${String(cfg)}`);
  const unknown = Object.keys(cfg).filter((k) => !CONFIG_KEYS.includes(k));
  if (unknown.length > 0) throw new RangeError(`${op}: unknown key '${unknown[0]}' (known: ${CONFIG_KEYS.join(', ')})`);
  if (cfg.loadIn4bit && cfg.loadIn8bit) throw new RangeError(`${op}: loadIn4bit and loadIn8bit are both true - you can only load in 4 bit or 8 bit, not both`);
  if (!cfg.loadIn4bit && !cfg.loadIn8bit) throw new RangeError(`${op}: neither loadIn4bit nor loadIn8bit is true`);
  const skipModules = cfg.llmInt8SkipModules ?? DEFAULT_SKIP;
  if (cfg.loadIn8bit) {
    if (cfg.bnb4bitQuantType !== undefined || cfg.bnb4bitUseDoubleQuant !== undefined || cfg.bnb4bitComputeDtype !== undefined)
      throw new RangeError(`${op}: bnb4bit* settings apply to loadIn4bit, not loadIn8bit`);
    return { format: 'int8', skipModules };
  }
  const type = cfg.bnb4bitQuantType ?? 'nf4';
  if (type !== 'nf4') throw new RangeError(`${op}: bnb4bitQuantType '${String(type)}' is not supported (expected 'nf4')`);
  const computeDtype = cfg.bnb4bitComputeDtype ?? 'float32';
  if (!COMPUTE_DTYPES.includes(computeDtype)) throw new RangeError(`${op}: bnb4bitComputeDtype must be float32 or bfloat16, got '${String(computeDtype)}'`);
  return { format: 'nf4', doubleQuant: cfg.bnb4bitUseDoubleQuant ?? false, skipModules, computeDtype };
}

/** The linear layers `q` quantizes: every Linear and Conv1D but the skipped names (the output heads). */
export function quantizationTargets(model: Module, q: ModelQuantization): [string, Linear | Conv1D][] {
  const skip = new Set(q.skipModules ?? DEFAULT_SKIP);
  return model.namedModules().filter(([path, m]) =>
    (m instanceof Linear || m instanceof Conv1D) && path !== '' && !skip.has(path.slice(path.lastIndexOf('.') + 1))) as [string, Linear | Conv1D][];
}

/**
 * The QuantizedLinear standing for `layer`, its weight quantized from `weight` (the layer's own, or the same
 * values read from a file) and its bias the layer's own tensor (frozen).
 */
export function quantizedLayer(layer: Linear | Conv1D, weight: Tensor, q: ModelQuantization): QuantizedLinear {
  const quantized = noGrad(() => {
    // Conv1D stores [in, out]: its transpose is the [out, in] weight every GEMM here reads.
    const w = layer instanceof Conv1D ? weight.T.contiguous() : weight;
    const qt = QuantizedTensor.quantize(w, [layer.outFeatures, layer.inFeatures], q.format, q);
    if (w !== weight) w.dispose();
    return qt;
  });
  return layerWithWeight(layer, quantized, q);
}

/** The QuantizedLinear standing for `layer` with an already stored weight [out, in] (and the layer's bias, frozen). */
export function layerWithWeight(layer: Linear | Conv1D, weight: QuantizedTensor, q: ModelQuantization): QuantizedLinear {
  return new QuantizedLinear(weight, layer.bias ? layer.bias.detach().requiresGrad_(false) : null, q.computeDtype);
}

/** Sets the precision every quantized layer of the model multiplies in; returns how many layers it set. */
export function setComputeDtype(model: Module, dtype: ComputeDtype): number {
  if (!COMPUTE_DTYPES.includes(dtype)) throw new RangeError(`setComputeDtype: dtype must be float32 or bfloat16, got '${String(dtype)}'`);
  const layers = model.namedModules().map(([, m]) => m).filter((m): m is QuantizedLinear => m instanceof QuantizedLinear);
  for (const l of layers) l.computeDtype = dtype;
  return layers.length;
}

/** Hands freed float32 weights back to the system, not to the native allocator's cache. */
export function releaseFreedMemory(): void {
  (getBackend() as { emptyCache?: () => void }).emptyCache?.();
}

/** Replaces the model's linear layers by quantized ones; returns how many and the weight bytes before and after. */
export function quantizeModel(model: Module, q: ModelQuantization): { layers: number; bytesBefore: number; bytesAfter: number } {
  let layers = 0, bytesBefore = 0, bytesAfter = 0;
  for (const [path, layer] of quantizationTargets(model, q)) {
    const replacement = quantizedLayer(layer, layer.weight, q);
    bytesBefore += layer.weight.size * 4;
    bytesAfter += replacement.weight.byteLength;
    layer.weight.dispose();
    model.setSubmodule(path, replacement);
    layers++;
  }
  // The float32 weights are freed: the process should hold the quantized size.
  releaseFreedMemory();
  return { layers, bytesBefore, bytesAfter };
}
