/**
 * Adapter folders of every PEFT method (adapter_config.json + adapter_model.safetensors) on the tiny
 * GPT-2: config field edits (wrong types, huge, negative, missing), byte edits of either file, and
 * the weights' safetensors mutations.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PeftModel } from '../../../lib';
import { METHOD_CONFIGS, tinyGpt2, writeAdapterFolder } from '../../io/adapter_folders';
import { mutateBytes, mutateJson } from '../mutate';
import { copyFolder, type FuzzFormat, samplesIn } from './format';
import { mutateSafetensors } from './safetensors';

export const adapterFormat: FuzzFormat = {
  name: 'adapter folder',
  folder: true,
  makeSamples(dir) {
    for (const method of Object.keys(METHOD_CONFIGS)) writeAdapterFolder(method, path.join(dir, method));
    return [];
  },
  makeCase(rng, samplesDir, caseDir) {
    const sample = rng.pick(samplesIn(samplesDir));
    copyFolder(sample, caseDir);
    const onConfig = rng.chance(0.65);
    const file = path.join(caseDir, onConfig ? 'adapter_config.json' : 'adapter_model.safetensors');
    const src = fs.readFileSync(file);
    const keys = Object.keys(JSON.parse(fs.readFileSync(path.join(caseDir, 'adapter_config.json'), 'utf8')));
    const m = !onConfig ? mutateSafetensors(rng, src) : rng.chance(0.1) ? mutateBytes(rng, src, 64) : mutateJson(rng, src.toString('utf8'), keys);
    fs.writeFileSync(file, m.bytes);
    return {
      what: `${path.basename(sample)}/${path.basename(file)}: ${m.what}`,
      file,
      load: () => {
        const base = tinyGpt2();
        try {
          PeftModel.fromPretrained(base, caseDir);
        } finally {
          base.dispose();
        }
      },
    };
  },
};
