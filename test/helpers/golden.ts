/** The golden model fixtures (test/fixtures/models): the batch as model inputs and the expected tensors. */
import * as path from 'path';
import { BertForSequenceClassification, type IntTensor, type PretrainedModel, SafetensorsFile, type Tensor } from '../../lib';

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');

export interface Golden {
  file: SafetensorsFile;
  ids(name: string): IntTensor;
  tensor(name: string): Tensor;
}

export function openGolden(family: string): Golden {
  const file = SafetensorsFile.open(path.join(FIXTURES, family, 'golden.safetensors'));
  return {
    file,
    ids: (name) => {
      const raw = file.loadRaw(name);
      return { data: Int32Array.from(raw.data as BigInt64Array, (v) => Number(v)), shape: raw.shape };
    },
    tensor: (name) => file.load(name),
  };
}

/** The family's batch as the model's inputs. */
export function inputsOf(family: string, g: Golden): Parameters<PretrainedModel['forward']>[0] {
  const base = { inputIds: g.ids('input_ids'), attentionMask: g.ids('attention_mask'), labels: g.ids('labels') };
  return family === 'bert' ? { ...base, tokenTypeIds: g.ids('token_type_ids') } : base;
}

export function forward(model: PretrainedModel, inputs: Parameters<PretrainedModel['forward']>[0]): { logits: Tensor; loss: Tensor } {
  const out = model instanceof BertForSequenceClassification ? model.forward(inputs as never) : (model as Exclude<PretrainedModel, BertForSequenceClassification>).forward(inputs as never);
  return { logits: out.logits, loss: out.loss! };
}

