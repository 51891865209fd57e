/**
 * Where bottleneck adapters (and Compacter's) go in each block: on the output of the attention sublayer's
 * output projection and of the FFN's output projection, before the residual add (and, for BERT's
 * post-norm blocks, before the residual + LayerNorm, as Houlsby's original places them).
 *   Llama: self_attn.o_proj, mlp.down_proj;  GPT-2: attn.c_proj, mlp.c_proj;
 *   BERT:  attention.output.dense, output.dense (the block's own output, not the attention's).
 * houlsby takes both sites of every block, pfeiffer the FFN's only.
 */
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import type { AdapterType } from './config';

export type SiteKind = 'attention' | 'ffn';

const ATTENTION_OUTPUTS = [/\.self_attn\.o_proj$/, /(^|\.)attn\.c_proj$/, /\.attention\.output\.dense$/];
const FFN_OUTPUTS = [/\.mlp\.down_proj$/, /\.mlp\.c_proj$/, /\.layer\.\d+\.output\.dense$/];

export interface AdapterSite {
  path: string;
  kind: SiteKind;
  /** The block index (the number in `layers.3.`), or null where the path has none. */
  block: number | null;
  module: Module;
}

/** The kind of site a module path is, or null. */
export function siteKind(path: string): SiteKind | null {
  if (ATTENTION_OUTPUTS.some((r) => r.test(path))) return 'attention';
  if (FFN_OUTPUTS.some((r) => r.test(path))) return 'ffn';
  return null;
}

/** The last block index in a path (`model.layers.1.mlp.down_proj` -> 1). */
function blockOf(path: string): number | null {
  const all = [...path.matchAll(/\.(\d+)\./g)];
  return all.length ? Number(all[all.length - 1][1]) : null;
}

/**
 * The adapter sites of a model for a placement. `isWrapped` recognises a module already wrapped by the
 * method (a second adapter joins it). An error names what was looked for when nothing matches.
 */
export function adapterSites(model: Module, adapterType: AdapterType, layersToTransform: number[] | number | null,
                             isWrapped: (m: Module) => boolean, what: string): AdapterSite[] {
  const layers = layersToTransform === null || layersToTransform === undefined ? null : Array.isArray(layersToTransform) ? layersToTransform : [layersToTransform];
  const sites: AdapterSite[] = [];
  for (const [path, module] of model.namedModules()) {
    if (path === '' || path.includes('.base_layer')) continue;
    const kind = siteKind(path);
    if (kind === null || (adapterType === 'pfeiffer' && kind !== 'ffn')) continue;
    const block = blockOf(path);
    if (layers !== null && (block === null || !layers.includes(block))) continue;
    if (!(module instanceof Linear || module instanceof Conv1D || isWrapped(module)))
      throw new Error(`${what}: ${path} is a ${module.constructor.name}; adapters wrap a Linear or Conv1D output projection`);
    sites.push({ path, kind, block, module });
  }
  if (sites.length === 0)
    throw new Error(`${what}: found no ${adapterType === 'pfeiffer' ? 'FFN output' : 'attention or FFN output'} modules in ${model.constructor.name}` +
      `${layers ? ` in blocks ${JSON.stringify(layers)}` : ''} (known: Llama self_attn.o_proj / mlp.down_proj, GPT-2 attn.c_proj / mlp.c_proj, BERT attention.output.dense / output.dense)`);
  return sites;
}

/** The output width of a wrapped Linear / Conv1D: the adapter's hidden size there. */
export function outFeaturesOf(m: Module): number {
  if (m instanceof Linear || m instanceof Conv1D) return m.outFeatures;
  throw new Error(`adapters: cannot read the output size of a ${m.constructor.name}`);
}
