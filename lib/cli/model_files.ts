/** Finding a model and its tokenizer from the CLI's --model / --tokenizer flags. */
import * as fs from 'fs';
import * as path from 'path';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer';
import { loadPretrained, type PretrainedModel } from '../nn/models/pretrained';
import { CliError } from './args';
import { PeftModel } from '../peft/peft_model';
import '../peft';

export function loadModelFlag(command: string, modelPath: string): PretrainedModel {
  if (!fs.existsSync(modelPath)) throw new CliError(`peftjs ${command}: --model ${modelPath} does not exist`);
  return loadPretrained(modelPath);
}

/** --tokenizer, else the model folder itself, else a llama2.c tok*.bin beside the checkpoint. */
export function loadTokenizerFlag(command: string, modelPath: string, tokenizerPath: string | undefined, vocabSize: number): Tokenizer {
  if (tokenizerPath !== undefined) {
    if (!fs.existsSync(tokenizerPath)) throw new CliError(`peftjs ${command}: --tokenizer ${tokenizerPath} does not exist`);
    return loadTokenizer(tokenizerPath, { vocabSize });
  }
  if (fs.statSync(modelPath).isDirectory()) return loadTokenizer(modelPath, { vocabSize });
  const dir = path.dirname(modelPath);
  const candidates = fs.readdirSync(dir).filter((n) => /^tok.*\.bin$/.test(n) || n === 'tokenizer.bin');
  if (candidates.length !== 1)
    throw new CliError(`peftjs ${command}: pass --tokenizer (found ${candidates.length === 0 ? 'no tokenizer' : `several: ${candidates.join(', ')}`} beside ${modelPath})`);
  return loadTokenizer(path.join(dir, candidates[0]), { vocabSize });
}

/** The model with an adapter folder loaded onto it (--adapter), or the model itself. */
export function withAdapter(command: string, model: PretrainedModel, adapterDir: string | undefined): PretrainedModel | PeftModel {
  if (adapterDir === undefined) return model;
  if (!fs.existsSync(adapterDir)) throw new CliError(`peftjs ${command}: --adapter ${adapterDir} does not exist`);
  return PeftModel.fromPretrained(model, adapterDir);
}

export function vocabSizeOf(model: PretrainedModel): number {
  return model.config.vocabSize;
}
