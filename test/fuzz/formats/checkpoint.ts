/**
 * Checkpoint folders as the Trainer writes them (trainer_state.json, optimizer.safetensors, and the
 * adapter files or model.safetensors), for LoRA and for full fine-tuning of the tiny GPT-2; each case
 * breaks one file and resumes a Trainer of the same plan from the folder (Trainer.loadCheckpoint).
 */
import * as fs from 'fs';
import * as path from 'path';
import { getPeftModel, LoraConfig, manualSeed, type Module, Trainer } from '../../../lib';
import { tinyGpt2 } from '../../io/adapter_folders';
import { mutateBytes, mutateJson } from '../mutate';
import { copyFolder, type FuzzFormat, samplesIn } from './format';
import { mutateSafetensors } from './safetensors';

const KINDS: Record<string, () => Module> = {
  lora: () => getPeftModel(tinyGpt2(), new LoraConfig({ r: 2, targetModules: ['c_attn'], fanInFanOut: true })),
  full: () => tinyGpt2(),
};

/** The same plan when writing and when resuming: 4 examples, batches of 2, 2 steps, a checkpoint at step 2. */
function trainer(kind: string, outputDir: string): Trainer {
  manualSeed(3);
  const data = Array.from({ length: 4 }, (_, k) => ({ inputIds: Array.from({ length: 6 }, (_, t) => (5 * k + 3 * t) % 89) }));
  return new Trainer(KINDS[kind](), { trainDataset: data, batchSize: 2, maxSteps: 2, saveSteps: 2, lr: 1e-3, outputDir, logFile: null, progress: false, seed: 1 });
}

export const checkpointFormat: FuzzFormat = {
  name: 'trainer checkpoint',
  folder: true,
  makeSamples(dir) {
    for (const kind of Object.keys(KINDS)) {
      const out = path.join(dir, '..', `train-${kind}`);
      trainer(kind, out).train();
      fs.renameSync(path.join(out, 'checkpoint-2'), path.join(dir, kind));
    }
    return [];
  },
  makeCase(rng, samplesDir, caseDir) {
    const sample = rng.pick(samplesIn(samplesDir));
    copyFolder(sample, caseDir);
    const file = path.join(caseDir, rng.pick(fs.readdirSync(caseDir).sort()));
    const src = fs.readFileSync(file);
    const m = file.endsWith('.safetensors') ? mutateSafetensors(rng, src)
      : rng.chance(0.15) ? mutateBytes(rng, src, 64) : mutateJson(rng, src.toString('utf8'), Object.keys(JSON.parse(src.toString('utf8'))));
    fs.writeFileSync(file, m.bytes);
    return {
      what: `${path.basename(sample)}/${path.basename(file)}: ${m.what}`,
      file,
      load: () => trainer(path.basename(sample), path.join(caseDir, '..', 'resume-out')).loadCheckpoint(caseDir),
    };
  },
};
