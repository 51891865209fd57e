/** The weights of an HF model folder: model.safetensors, or the shards of model.safetensors.index.json. */
import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError } from '../../io/errors';
import { SafetensorsFile } from '../../io/safetensors';
import type { Tensor } from '../../tensor/tensor';

export function loadHfWeights(dir: string): Map<string, Tensor> {
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, 'model.safetensors.index.json');
  const out = new Map<string, Tensor>();
  const loadFile = (file: string, names?: string[]) => {
    const f = SafetensorsFile.open(file);
    try {
      for (const name of names ?? f.names()) {
        if (!f.has(name)) throw new FileFormatError('safetensors', file, `tensor '${name}' is listed in model.safetensors.index.json but not in this shard`);
        out.set(name, f.load(name));
      }
    } finally {
      f.close();
    }
  };
  if (fs.existsSync(single)) loadFile(single);
  else if (fs.existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = JSON.parse(fs.readFileSync(index, 'utf8')).weight_map;
    } catch (e) {
      throw new FileFormatError('safetensors index', index, (e as Error).message);
    }
    if (!map || typeof map !== 'object') throw new FileFormatError('safetensors index', index, "no 'weight_map' object");
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(map)) byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
    for (const [shard, names] of byShard) loadFile(path.join(dir, shard), names);
  } else throw new Error(`loading ${dir}: neither model.safetensors nor model.safetensors.index.json is there`);
  return out;
}
