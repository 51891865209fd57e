/** Finding a model and its tokenizer from the CLI's --model / --tokenizer flags. */
import * as fs from 'fs';
import * as path from 'path';
import { type HubOptions, isHubId, resolveModelPath } from '../io/hub';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer';
import { loadPretrained, type PretrainedModel } from '../nn/models/pretrained';
import { COMPUTE_DTYPES, type ComputeDtype, QuantizedLinear } from '../quant/quantized_linear';
import { quantizeModel, type ModelQuantization } from '../quant/quantize_model';
import { CliError, stringFlag } from './args';
import { PeftModel } from '../peft/peft_model';
import '../peft';

/**
 * The flags that choose how the frozen weights are stored and multiplied: --quantize nf4|int8, --dtype
 * bfloat16|float16|float32, --compute-dtype float32|bfloat16 (HF's bnb_4bit_compute_dtype).
 */
export const STORAGE_FLAGS = ['quantize', 'dtype', 'compute-dtype'] as const;

/** The storage --quantize / --dtype ask for (null: float32, as loaded). */
export function storageFlag(command: string, flags: Map<string, string | true>): ModelQuantization | null {
  const quantize = stringFlag(flags, 'quantize'), dtype = stringFlag(flags, 'dtype'), compute = stringFlag(flags, 'compute-dtype');
  if (quantize !== undefined && dtype !== undefined && dtype !== 'float32')
    throw new CliError(`peftjs ${command}: --quantize ${quantize} and --dtype ${dtype} both choose the weights' storage; pass one`);
  if (compute !== undefined && !(COMPUTE_DTYPES as readonly string[]).includes(compute))
    throw new CliError(`peftjs ${command}: --compute-dtype must be float32 or bfloat16, got '${compute}'`);
  const computeDtype = compute as ComputeDtype | undefined;
  if (quantize !== undefined) {
    if (quantize !== 'nf4' && quantize !== 'int8') throw new CliError(`peftjs ${command}: --quantize must be nf4 or int8, got '${quantize}'`);
    return { format: quantize, computeDtype };
  }
  if (dtype === undefined || dtype === 'float32') {
    if (computeDtype === 'bfloat16') throw new CliError(`peftjs ${command}: --compute-dtype bfloat16 applies to low-precision weights; pass --dtype bfloat16 or --quantize nf4|int8 with it`);
    return null;
  }
  if (dtype !== 'bfloat16' && dtype !== 'float16') throw new CliError(`peftjs ${command}: --dtype must be bfloat16, float16 or float32, got '${dtype}'`);
  return { format: dtype, computeDtype };
}

/**
 * Stores the model's linear layers as `storage` asks (embeddings, norms and the output head stay float32,
 * as HF keeps them), saying so on stderr.
 */
export function storeWeights(command: string, model: PretrainedModel, storage: ModelQuantization | null): void {
  if (storage === null) return;
  const { layers, bytesBefore, bytesAfter } = quantizeModel(model, storage);
  reportStorage(command, storage, layers, bytesBefore, bytesAfter);
}

/** What a load with --quantize / --dtype stored, on stderr. */
function reportStorage(command: string, storage: ModelQuantization, layers: number, bytesBefore: number, bytesAfter: number): void {
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const compute = storage.computeDtype === 'bfloat16' ? ', multiplied in bfloat16' : '';
  process.stderr.write(`${command}: ${layers} linear layers stored as ${storage.format}${compute} (${mib(bytesBefore)} -> ${mib(bytesAfter)} MiB); ` +
    'embeddings, norms and the output head stay float32\n');
}

/**
 * The flags for a --model that is a Hub id: --revision (a branch, tag or commit; default main) and --token (sent
 * as `Authorization: Bearer`; default HF_TOKEN, else the token file `huggingface-cli login` writes).
 */
export const HUB_FLAGS = ['revision', 'token'] as const;

/** What the help texts say of HUB_FLAGS. */
export const HUB_FLAGS_HELP = `--revision REV / --token TOKEN: for a Hub id ('org/name') in --model, the branch, tag or commit to load (default
  main; the tokenizer read from the model comes from the same revision) and the Hub token to send (default HF_TOKEN,
  else the token file huggingface-cli login writes; --adapter and --tokenizer ids get the token too).`;

/** --revision / --token as resolveModelPath's options (absent flags: the resolver's defaults). */
export function hubFlags(command: string, flags: Map<string, string | true>): HubOptions {
  const out: HubOptions = {};
  for (const name of HUB_FLAGS) {
    const v = stringFlag(flags, name);
    if (v === undefined) continue;
    if (v === '') throw new CliError(`peftjs ${command}: --${name} must not be empty`);
    out[name] = v;
  }
  return out;
}

/** A flag's path, or its Hub id ('org/name', from the Hugging Face cache or downloaded into it) as a local folder. */
function localPath(command: string, flag: string, idOrPath: string, files: 'model' | 'tokenizer' | 'adapter', hub: HubOptions = {}): string {
  if (!fs.existsSync(idOrPath) && !isHubId(idOrPath)) throw new CliError(`peftjs ${command}: --${flag} ${idOrPath} does not exist (nor is it a Hugging Face Hub id 'org/name')`);
  return resolveModelPath(idOrPath, { ...hub, files });
}

/** Only the token of --revision / --token: for ids other than --model's (an adapter, a separate tokenizer). */
const tokenOnly = (hub: HubOptions): HubOptions => (hub.token !== undefined ? { token: hub.token } : {});

/** --model's folder: the path itself, or a Hub id's snapshot at --revision (fetched with --token). */
export function modelFolderFlag(command: string, modelPath: string, hub: HubOptions = {}): string {
  return localPath(command, 'model', modelPath, 'model', hub);
}

export function loadModelFlag(command: string, modelPath: string, storage: ModelQuantization | null = null, hub: HubOptions = {}): PretrainedModel {
  const model = loadPretrained(localPath(command, 'model', modelPath, 'model', hub), { quantization: storage });
  if (storage !== null) {
    const layers = model.namedModules().map(([, m]) => m).filter((m): m is QuantizedLinear => m instanceof QuantizedLinear);
    reportStorage(command, storage, layers.length, layers.reduce((s, l) => s + l.weight.size * 4, 0), layers.reduce((s, l) => s + l.weight.byteLength, 0));
  }
  return model;
}

/** --tokenizer, else the model folder itself, else a llama2.c tok*.bin beside the checkpoint. */
export function loadTokenizerFlag(command: string, modelPath: string, tokenizerPath: string | undefined, vocabSize: number, hub: HubOptions = {}): Tokenizer {
  if (tokenizerPath !== undefined) return loadTokenizer(localPath(command, 'tokenizer', tokenizerPath, 'tokenizer', tokenOnly(hub)), { vocabSize });
  if (!fs.existsSync(modelPath)) return loadTokenizer(localPath(command, 'model', modelPath, 'tokenizer', hub), { vocabSize });
  if (fs.statSync(modelPath).isDirectory()) return loadTokenizer(modelPath, { vocabSize });
  const dir = path.dirname(modelPath);
  const candidates = fs.readdirSync(dir).filter((n) => /^tok.*\.bin$/.test(n) || n === 'tokenizer.bin');
  if (candidates.length !== 1)
    throw new CliError(`peftjs ${command}: pass --tokenizer (found ${candidates.length === 0 ? 'no tokenizer' : `several: ${candidates.join(', ')}`} beside ${modelPath})`);
  return loadTokenizer(path.join(dir, candidates[0]), { vocabSize });
}

/** The model with an adapter folder loaded onto it (--adapter), or the model itself. */
export function withAdapter(command: string, model: PretrainedModel, adapterDir: string | undefined, hub: HubOptions = {}): PretrainedModel | PeftModel {
  if (adapterDir === undefined) return model;
  return PeftModel.fromPretrained(model, localPath(command, 'adapter', adapterDir, 'adapter', tokenOnly(hub)));
}

export function vocabSizeOf(model: PretrainedModel): number {
  return model.config.vocabSize;
}
