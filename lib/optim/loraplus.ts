/**
 * LoRA+ (Hayou et al., https://huggingface.co/papers/2402.12354) as HF peft's create_loraplus_optimizer
 * (src/peft/optimizers/loraplus.py at 5d602fd): the trainable parameters in four groups, in HF's order:
 *   0 'groupA'          everything else (lora_A, ...)          lr,                    weightDecay = loraplusWeightDecay
 *   1 'embedding'       parameters of a LoRA embedding layer    loraplusLrEmbedding,   weightDecay = loraplusWeightDecay
 *   2 'groupB'          lora_B and 1-D parameters that decay    lr * loraplusLrRatio,  weightDecay = loraplusWeightDecay
 *   3 'groupB_no_decay' lora_B and 1-D parameters that do not   lr * loraplusLrRatio,  weightDecay = 0
 * A parameter "decays" when its name has no 'bias' and no LayerNorm module holds it (transformers'
 * get_parameter_names(model, ALL_LAYERNORM_LAYERS), ALL_LAYERNORM_LAYERS being [nn.LayerNorm]: RMSNorm
 * weights decay, as there). The embedding test is HF's: the module two name parts up is a LoRA embedding
 * layer. Frozen parameters are left out; empty groups stay (so group indices are HF's).
 * The other options go to the optimizer as its defaults (lr included).
 */
import { LayerNorm } from '../nn/layers/norm';
import type { Module } from '../nn/module';
import type { Tensor } from '../tensor/tensor';
import type { PeftModel } from '../peft/peft_model';
import { LoraEmbedding } from '../peft/tuners/lora/embedding_layer';
import type { Optimizer } from './optimizer';

export interface LoraplusOptions {
  lr: number;
  /** eta_B / eta_A (HF's loraplus_lr_ratio), >= 1 recommended. */
  loraplusLrRatio: number;
  /** The weight decay of every group but groupB_no_decay (default 0). */
  loraplusWeightDecay?: number;
  /** The learning rate of LoRA embedding parameters (default 1e-6). */
  loraplusLrEmbedding?: number;
}

type GroupSpec = { params: Tensor[]; lr: number; weightDecay: number };

/** The names of the trainable parameters in HF's four groups (for inspection and tests). */
export function loraplusParameterGroups(model: PeftModel | Module): { groupA: string[]; embedding: string[]; groupB: string[]; groupB_no_decay: string[] } {
  const root = rootOf(model);
  const modules = new Map(root.namedModules());
  const layerNorms = [...modules].filter(([, m]) => m instanceof LayerNorm).map(([p]) => p);
  const inLayerNorm = (name: string) => layerNorms.some((p) => p === '' || name.startsWith(p + '.'));
  const out = { groupA: [] as string[], embedding: [] as string[], groupB: [] as string[], groupB_no_decay: [] as string[] };
  for (const [name, param] of root.namedParameters()) {
    if (!param.requiresGrad) continue;
    const moduleName = name.split('.').slice(0, -2).join('.');
    const module = moduleName ? modules.get(moduleName) : undefined;
    if (module instanceof LoraEmbedding) out.embedding.push(name);
    else if (name.includes('lora_B') || param.shape.length === 1) {
      if (!inLayerNorm(name) && !name.includes('bias')) out.groupB.push(name);
      else out.groupB_no_decay.push(name);
    } else out.groupA.push(name);
  }
  return out;
}

/** HF's create_loraplus_optimizer: `new optimizerClass(groups, {...rest, lr})`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type OptimizerClass = new (params: GroupSpec[], defaults: any) => Optimizer<{ lr: number }>;
/** The optimizer's own options (betas, momentum, ...) besides lr. */
type OwnOptions<C extends OptimizerClass> = Omit<NonNullable<ConstructorParameters<C>[1]>, 'lr'>;

export function createLoraplusOptimizer<C extends OptimizerClass>(
  model: PeftModel | Module,
  optimizerClass: C,
  opts: LoraplusOptions & OwnOptions<C>,
): InstanceType<C> {
  const { lr, loraplusLrRatio, loraplusWeightDecay = 0, loraplusLrEmbedding = 1e-6, ...rest } = opts as LoraplusOptions & Record<string, unknown>;
  const where = 'createLoraplusOptimizer';
  const num = (name: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${where}: ${name} must be a finite number, got ${String(v)}`);
  };
  num('lr', lr);
  num('loraplusLrRatio', loraplusLrRatio);
  num('loraplusWeightDecay', loraplusWeightDecay);
  num('loraplusLrEmbedding', loraplusLrEmbedding);
  const root = rootOf(model);
  const byName = new Map(root.namedParameters());
  const groups = loraplusParameterGroups(root);
  const params = (names: string[]) => names.map((n) => byName.get(n)!);
  const specs: GroupSpec[] = [
    { params: params(groups.groupA), weightDecay: loraplusWeightDecay, lr },
    { params: params(groups.embedding), weightDecay: loraplusWeightDecay, lr: loraplusLrEmbedding },
    { params: params(groups.groupB), weightDecay: loraplusWeightDecay, lr: lr * loraplusLrRatio },
    { params: params(groups.groupB_no_decay), weightDecay: 0, lr: lr * loraplusLrRatio },
  ];
  if (specs.every((g) => g.params.length === 0)) throw new RangeError(`${where}: the model has no trainable parameters`);
  return new optimizerClass(specs, { ...rest, lr }) as InstanceType<C>;
}

function rootOf(model: PeftModel | Module): Module {
  const m = model as { model?: unknown; namedParameters?: unknown };
  return (typeof m.namedParameters === 'function' ? model : (model as PeftModel).model) as Module;
}
