/**
 * replaceLoraWeightsLoftq: HF peft 5d602fd's replace_lora_weights_loftq (src/peft/utils/loftq_utils.py)
 * for a model whose linear layers are already NF4 (HF: bitsandbytes Linear4bit; here a LoraLinear over an
 * nf4 QuantizedLinear). For each such layer the original float weight W is read from the model's
 * safetensors file(s) and the adapter is set from one LoftQ step on the existing quantization
 * (_loftq_init_new): residual = W - dequant(Q), rank-r SVD, lora_A = R, lora_B = L; the base stays as it
 * is. A callback may judge each replacement and have it rolled back (HF: "As this is a greedy
 * optimization, it's possible that calling this function multiple times yields incremental improvements").
 * Where HF finds the weights through the Hub cache when no path is given, here the path is required.
 */
import * as fs from 'fs';
import * as path from 'path';
import { type HfModelFolderReader, openHfModelFolder } from '../../../io/hf_folder';
import { SafetensorsFile } from '../../../io/safetensors_read';
import { copyInto } from '../../../nn/module';
import { QuantizedLinear } from '../../../quant/quantized_linear';
import { noGrad } from '../../../tensor/autograd';
import { fromArray } from '../../../tensor/creation';
import type { Tensor } from '../../../tensor/tensor';
import type { PeftModel } from '../../peft_model';
import { LoraLinear } from './layer';
import { lowRankDecomposition } from './loftq';

const OP = 'replaceLoraWeightsLoftq';
const SUFFIX = 'model.safetensors';

export interface ReplaceLoraWeightsLoftqOptions {
  /** The model's float weights: a folder with model.safetensors (or its shards), or the file itself. */
  modelPath: string;
  /** The adapter whose A and B are replaced (default 'default'). */
  adapterName?: string;
  /**
   * Called after each layer's replacement with the module's path (as in the base model's state dict);
   * returning false rolls that layer back.
   */
  callback?: (peft: PeftModel, name: string) => boolean;
}

/** HF's _SafetensorLoader: one file or the shards of model.safetensors.index.json. */
class WeightLoader {
  private readonly file: SafetensorsFile | null = null;
  private readonly folder: HfModelFolderReader | null = null;

  constructor(modelPath: string) {
    if (typeof modelPath !== 'string' || modelPath === '')
      throw new TypeError(`${OP}: modelPath must be the path of the model's folder or of its model.safetensors, got ${JSON.stringify(modelPath)}`);
    const file = modelPath.endsWith(SUFFIX) ? modelPath : path.join(modelPath, SUFFIX);
    if (fs.existsSync(file)) this.file = SafetensorsFile.open(file);
    else if (fs.existsSync(path.join(path.dirname(file), 'model.safetensors.index.json'))) this.folder = openHfModelFolder(path.dirname(file));
    else throw new Error(`${OP}: could not find ${file}, nor a sharded model (model.safetensors.index.json) beside it`);
  }

  private has(name: string): boolean {
    return this.file ? this.file.has(name) : this.folder!.has(name);
  }

  /**
   * The tensor `name`, or, as HF does when it is missing, the name without the base model prefix (the
   * first path component: `model.` of a causal LM, whose bare base model saves `layers.0...`).
   */
  get(name: string): Tensor {
    let key = name;
    if (!this.has(key) && key.includes('.')) key = key.slice(key.indexOf('.') + 1);
    if (!this.has(key)) throw new Error(`${OP}: the model's weights have no tensor ${JSON.stringify(name)} (nor ${JSON.stringify(key)})`);
    return this.file ? this.file.load(key) : this.folder!.load(key);
  }

  close(): void {
    this.file?.close();
    this.folder?.close();
  }
}

/** Sets the adapter's A and B of every LoRA layer on an NF4 base from LoftQ on its quantization error. */
export function replaceLoraWeightsLoftq(peft: PeftModel, opts: ReplaceLoraWeightsLoftqOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${OP}: expected options { modelPath, adapterName?, callback? }, got ${JSON.stringify(opts)}`);
  const adapterName = opts.adapterName ?? 'default';
  if (opts.callback !== undefined && typeof opts.callback !== 'function') throw new TypeError(`${OP}: callback must be a function, got ${typeof opts.callback}`);
  const layers = peft.model.namedModules().filter((e): e is [string, LoraLinear] =>
    e[1] instanceof LoraLinear && e[1].base_layer instanceof QuantizedLinear && e[1].base_layer.weight.format === 'nf4');
  // HF: "No bnb LoRA module found on the model" (its Linear4bit LoRA layers; 8-bit ones are not replaced either).
  if (layers.length === 0) throw new Error(`${OP}: no LoRA layer on an NF4-quantized base found on the model`);
  const loader = new WeightLoader(opts.modelPath);
  try {
    for (const [name, layer] of layers) {
      if (!layer.specs.has(adapterName)) throw new Error(`${OP}: layer ${name} has no adapter named '${adapterName}'`);
      const q = (layer.base_layer as QuantizedLinear).weight;
      const [out, inF] = q.shape;
      const r = layer.specs.get(adapterName)!.r;
      if (r > Math.min(out, inF)) throw new RangeError(`${OP}: r = ${r} of ${name} exceeds min(out, in) = ${Math.min(out, inF)}`);
      const w = loader.get(`${name}.weight`);
      const dims = w.shape.join(', ');
      const wv = w.toFloat32Array();
      w.dispose();
      if (dims !== `${out}, ${inF}`) throw new Error(`${OP}: ${name}.weight in the model's weights is [${dims}], the layer's is [${out}, ${inF}]`);
      const dq = noGrad(() => q.dequantize());
      const qv = dq.toFloat32Array();
      dq.dispose();
      const lr = lowRankDecomposition(Float64Array.from(wv, (v, i) => v - qv[i]), out, inF, r);
      const a = layer.lora_A.get(adapterName).weight, b = layer.lora_B.get(adapterName).weight;
      const before = opts.callback ? [a.toFloat32Array(), b.toFloat32Array()] : null;
      write(a, lr.r, [r, inF]);
      write(b, lr.l, [out, r]);
      if (before && !opts.callback!(peft, name)) {
        write(a, before[0], [r, inF]);
        write(b, before[1], [out, r]);
      }
    }
  } finally {
    loader.close();
  }
}

function write(target: Tensor, values: ArrayLike<number>, shape: [number, number]): void {
  noGrad(() => {
    const t = fromArray(Float32Array.from(values), shape);
    copyInto(target, t);
    t.dispose();
  });
}
