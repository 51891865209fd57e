/**
 * What the three prompt-learning tuners share: the encoder kept on the PeftModel per adapter, the forward
 * with virtual tokens or prefixes, and HF's save format. HF saves one tensor, `prompt_embeddings`: the
 * encoder's output for the virtual tokens (get_prompt_embedding_to_save), so a P-tuning MLP or LSTM and a
 * prefix projection are not saved, only what they produce. Loading such an adapter gives a table of those
 * outputs (HF's inference-mode encoder); loaded trainable, the table itself trains (HF would re-run a
 * fresh encoder on it, changing the outputs). modules_to_save are saved as HF's prompt-learning PeftModel
 * names them: `base_model.<path>` (HF's base_model is the model itself there).
 */
import { FileFormatError } from '../../../io/errors';
import { copyInto } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import type { Tensor } from '../../../tensor/tensor';
import type { PeftType } from '../../config';
import type { PeftModel } from '../../peft_model';
import type { Tuner } from '../../tuner';
import type { PromptLearningConfig } from './config';
import { encoderParameters, getEncoder, removeEncoder, setEncoder } from './encoders';
import { forwardWithPrefixes, forwardWithPrompts, labelsPerToken, type PromptInputs } from './forward';
import { preparePromptLearningConfig } from './model_config';
import { type PromptEncoderModule, PromptTable } from './table';

export interface PromptMethod<C extends PromptLearningConfig> {
  readonly peftType: PeftType;
  /** Prefixes for every layer's attention (prefix tuning), or virtual tokens before the inputs. */
  readonly prefix: boolean;
  /** The encoder of a new, trainable adapter (the config is prepared). */
  build(peft: PeftModel, config: C, name: string): PromptEncoderModule;
  /** prompt_embeddings' shape [rows, cols]. */
  savedShape(config: C): [number, number];
}

/** The table to save: the encoder's output, computed without dropout and outside the graph. */
function promptsToSave(encoder: PromptEncoderModule): Tensor {
  if (!encoder.reparameterized) return encoder.prompts();
  const training = encoder.training;
  encoder.eval();
  try {
    return noGrad(() => encoder.prompts().contiguous());
  } finally {
    encoder.train(training);
  }
}

/** A modules_to_save parameter's saved key: `base_model.` + its path without `modules_to_save.<name>`. */
function modulesToSaveKey(path: string, name: string): string | null {
  const marker = `.modules_to_save.${name}.`;
  const at = path.indexOf(marker);
  return at < 0 ? null : `base_model.${path.slice(0, at)}.${path.slice(at + marker.length)}`;
}

export function promptLearningTuner<C extends PromptLearningConfig>(method: PromptMethod<C>): Tuner<C> {
  const modulesToSave = (peft: PeftModel, name: string) =>
    peft.adapterParameters(name).flatMap(([p, t]) => {
      const key = modulesToSaveKey(p, name);
      return key ? [[key, t] as [string, Tensor]] : [];
    });

  return {
    peftType: method.peftType,
    mergeable: false,
    adapterPrefixes: [],
    fileKeys: true,

    inject(peft: PeftModel, config: C, name: string): void {
      preparePromptLearningConfig(config, peft.model, 'addAdapter');
      const [rows, cols] = method.savedShape(config);
      const encoder = config.inferenceMode ? new PromptTable(rows, cols) : method.build(peft, config, name);
      if (config.inferenceMode) encoder.freeze();
      setEncoder(peft, name, encoder);
    },

    forward(peft: PeftModel, inputs: unknown, name: string): unknown {
      const config = peft.peftConfig.get(name) as C;
      const table = getEncoder(peft, name, 'forward').prompts();
      const model = peft.model;
      if (method.prefix) return forwardWithPrefixes(model, inputs as PromptInputs, table, config.dims().numLayers, 'forward');
      return forwardWithPrompts(model, inputs as PromptInputs, table, labelsPerToken(model, config.taskType), 'forward');
    },

    stateDict(peft: PeftModel, name: string): Map<string, Tensor> {
      const out = new Map<string, Tensor>([['prompt_embeddings', promptsToSave(getEncoder(peft, name, 'adapterStateDict'))]]);
      for (const [k, t] of modulesToSave(peft, name)) out.set(k, t);
      return out;
    },

    loadStateDict(peft: PeftModel, name: string, tensors: Map<string, Tensor>, file: string): void {
      const config = peft.peftConfig.get(name) as C;
      const own = new Map(modulesToSave(peft, name));
      const expected = ['prompt_embeddings', ...own.keys()];
      const missing = expected.filter((k) => !tensors.has(k));
      const unexpected = [...tensors.keys()].filter((k) => !expected.includes(k));
      if (missing.length || unexpected.length) {
        const list = (ks: string[]) => ks.slice(0, 6).map((k) => `'${k}'`).join(', ');
        throw new FileFormatError('adapter weights', file, [missing.length ? `missing ${list(missing)}` : '', unexpected.length ? `unexpected ${list(unexpected)}` : '']
          .filter(Boolean).join('; ') + ` (a ${config.peftType} adapter holds 'prompt_embeddings'${own.size ? ' and its modules_to_save' : ''})`);
      }
      const [rows, cols] = method.savedShape(config);
      const saved = tensors.get('prompt_embeddings')!;
      if (saved.rank !== 2 || saved.shape[0] !== rows || saved.shape[1] !== cols)
        throw new FileFormatError('adapter weights', file, `'prompt_embeddings' has shape [${saved.shape.join(', ')}], the config asks for [${rows}, ${cols}]`);
      for (const [k, t] of own) {
        const src = tensors.get(k)!;
        if (src.shape.join(',') !== t.shape.join(','))
          throw new FileFormatError('adapter weights', file, `'${k}' has shape [${src.shape.join(', ')}], the model's has [${t.shape.join(', ')}]`);
      }
      let encoder = getEncoder(peft, name, 'loadAdapter');
      if (encoder.reparameterized) {
        const table = new PromptTable(rows, cols);
        table.train(encoder.training);
        for (const t of table.parameters()) t.requiresGrad = !config.inferenceMode;
        removeEncoder(peft, name);
        setEncoder(peft, name, table);
        encoder = table;
      }
      copyInto(encoder.prompts(), saved);
      for (const [k, t] of own) copyInto(t, tensors.get(k)!);
    },

    deleteAdapter(peft: PeftModel, name: string): void {
      removeEncoder(peft, name);
    },

    extraParameters(peft: PeftModel, name: string): [string, Tensor][] {
      return encoderParameters(peft, name);
    },
  };
}
