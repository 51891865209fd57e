/**
 * Prompt-learning adapters on disk in HF peft's format: adapter_config.json with HF's keys, and one tensor
 * `prompt_embeddings` (the encoder's output, HF's get_prompt_embedding_to_save), plus `base_model.<path>`
 * for modules_to_save. Save -> load gives the same outputs, frozen (inference mode: the saved table is the
 * encoder) or trainable; corrupted folders are errors naming the file and the problem.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  fromArray, getPeftModel, manualSeed, type PeftConfig, PeftModel, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig,
  SafetensorsFile, saveSafetensors, setBackend,
} from '../../lib';
import { goldenInputs, loadFamily, peftOutputs, trainLosses } from '../helpers/prompt';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-prompt-'));
const readJson = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));

const BASE_KEYS = ['base_model_name_or_path', 'inference_mode', 'modules_to_save', 'num_attention_heads', 'num_layers',
  'num_transformer_submodules', 'num_virtual_tokens', 'peft_type', 'revision', 'task_type', 'token_dim'];

const methods: [string, () => PeftConfig, string[], (family: string) => [number, number]][] = [
  ['prompt tuning', () => new PromptTuningConfig({ numVirtualTokens: 3 }),
    ['prompt_tuning_init', 'prompt_tuning_init_text', 'tokenizer_kwargs', 'tokenizer_name_or_path'], () => [3, 32]],
  ['prefix tuning', () => new PrefixTuningConfig({ numVirtualTokens: 3 }), ['encoder_hidden_size', 'prefix_projection'],
    (family) => [3, 2 * 2 * (family === 'llama' ? 16 : 32)]],
  ['projected prefix tuning', () => new PrefixTuningConfig({ numVirtualTokens: 3, prefixProjection: true, encoderHiddenSize: 8 }),
    ['encoder_hidden_size', 'prefix_projection'], (family) => [3, 2 * 2 * (family === 'llama' ? 16 : 32)]],
  ['P-tuning (MLP)', () => new PromptEncoderConfig({ numVirtualTokens: 3, encoderHiddenSize: 8 }),
    ['encoder_dropout', 'encoder_hidden_size', 'encoder_num_layers', 'encoder_reparameterization_type'], () => [3, 32]],
  ['P-tuning (LSTM)', () => new PromptEncoderConfig({ numVirtualTokens: 3, encoderHiddenSize: 8, encoderReparameterizationType: 'LSTM' }),
    ['encoder_dropout', 'encoder_hidden_size', 'encoder_num_layers', 'encoder_reparameterization_type'], () => [3, 32]],
];

describe('prompt-learning adapters on disk', () => {
  beforeAll(() => setBackend('native'));

  describe.each(methods)('%s', (_name, makeConfig, ownKeys, savedShape) => {
    it.each(['llama', 'gpt2', 'bert'])('%s: HF\'s files; save -> load (inference and trainable) gives the same outputs', (family) => {
      manualSeed(21);
      const { inputs, logits: golden } = goldenInputs(family);
      const peft = getPeftModel(loadFamily(family), makeConfig());
      trainLosses(peft, inputs, 2, 0.05);
      const out = peftOutputs(peft, inputs).logits;
      const dir = tmp();
      peft.savePretrained(dir);

      const json = readJson(dir);
      expect(Object.keys(json).sort()).toEqual([...BASE_KEYS, ...ownKeys].sort());
      expect(json.peft_type).toBe(peft.peftConfig.get('default')!.peftType);
      expect(json.inference_mode).toBe(true);
      expect(json.num_virtual_tokens).toBe(3);
      expect(json.num_transformer_submodules).toBe(1);
      const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
      expect(st.names()).toEqual(['prompt_embeddings']);
      const saved = st.load('prompt_embeddings');
      st.close();
      expect(saved.shape).toEqual(savedShape(family));

      const frozen = PeftModel.fromPretrained(loadFamily(family), dir);
      expect(frozen.getNbTrainableParameters().trainable).toBe(0);
      // Inference mode: the saved table is the whole encoder (HF builds no MLP / LSTM then).
      expect(frozen.namedParameters().filter(([n]) => n.startsWith('prompt_encoder.')).map(([n]) => n)).toEqual(['prompt_encoder.default.embedding.weight']);
      expect(frozen.getParameter('prompt_encoder.default.embedding.weight')).toAllClose(saved, { atol: 0 });
      expect(peftOutputs(frozen, inputs).logits).toAllClose(out, { atol: 1e-5, rtol: 1e-5 });

      const trainable = PeftModel.fromPretrained(loadFamily(family), dir, { isTrainable: true });
      expect(trainable.getNbTrainableParameters().trainable).toBe(saved.size);
      expect(peftOutputs(trainable, inputs).logits).toAllClose(out, { atol: 1e-5, rtol: 1e-5 });
      const { before, after } = trainLosses(trainable, inputs, 3, 0.02);
      expect(after).toBeLessThan(before);
      expect(trainable.disableAdapter(() => peftOutputs(trainable, inputs).logits)).toAllClose(golden, { rtol: 1e-4, atol: 1e-5 });

      // Saved again, the loaded adapter writes the same table.
      const again = tmp();
      frozen.savePretrained(again);
      const st2 = SafetensorsFile.open(path.join(again, 'adapter_model.safetensors'));
      expect(st2.load('prompt_embeddings')).toAllClose(saved, { atol: 0 });
      st2.close();
    });
  });

  it('bert with modulesToSave: the classifier is saved as HF\'s prompt-learning PeftModel names it (base_model.classifier.*)', () => {
    manualSeed(22);
    const { inputs } = goldenInputs('bert');
    const peft = getPeftModel(loadFamily('bert'), new PromptTuningConfig({ numVirtualTokens: 2, taskType: 'SEQ_CLS', modulesToSave: ['classifier'] }));
    // HF: 2 * 32 virtual token weights + the classifier copy (3 * 32 + 3).
    expect(peft.getNbTrainableParameters().trainable).toBe(64 + 99);
    trainLosses(peft, inputs, 3, 0.05);
    const out = peftOutputs(peft, inputs).logits;
    const dir = tmp();
    peft.savePretrained(dir);
    const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
    expect(st.names().sort()).toEqual(['base_model.classifier.bias', 'base_model.classifier.weight', 'prompt_embeddings']);
    st.close();
    expect(readJson(dir).modules_to_save).toEqual(['classifier']);
    expect(peftOutputs(PeftModel.fromPretrained(loadFamily('bert'), dir), inputs).logits).toAllClose(out, { atol: 1e-5 });
  });

  it('several adapters: loadAdapter, setAdapter switches, deleteAdapter drops the encoder', () => {
    manualSeed(23);
    const { inputs } = goldenInputs('gpt2');
    const peft = getPeftModel(loadFamily('gpt2'), new PromptTuningConfig({ numVirtualTokens: 3 }));
    const first = peftOutputs(peft, inputs).logits;
    const other = getPeftModel(loadFamily('gpt2'), new PromptTuningConfig({ numVirtualTokens: 3 }));
    const dir = tmp();
    other.savePretrained(dir);
    peft.loadAdapter(dir, 'other');
    expect(peft.activeAdapter).toBe('other');
    expect(peftOutputs(peft, inputs).logits).toAllClose(peftOutputs(other, inputs).logits, { atol: 1e-6 });
    peft.setAdapter('default');
    expect(peftOutputs(peft, inputs).logits).toAllClose(first, { atol: 0 });
    peft.deleteAdapter('other');
    expect(peft.namedParameters().map(([n]) => n).filter((n) => n.startsWith('prompt_encoder.'))).toEqual(['prompt_encoder.default.embedding.weight']);
  });

  describe('corrupted adapters are clear errors', () => {
    let dir: string;
    beforeAll(() => {
      manualSeed(24);
      dir = tmp();
      getPeftModel(loadFamily('gpt2'), new PrefixTuningConfig({ numVirtualTokens: 3 })).savePretrained(dir);
    });
    const variant = (edit: (d: string) => void) => {
      const d = tmp();
      for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(d, f));
      edit(d);
      return d;
    };
    const load = (d: string) => () => PeftModel.fromPretrained(loadFamily('gpt2'), d);

    it('a truncated weights file', () => {
      const d = variant((d) => {
        const f = path.join(d, 'adapter_model.safetensors');
        fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 100));
      });
      expect(load(d)).toThrow(/adapter_model\.safetensors/);
    });
    it('a wrong key', () => {
      const d = variant((d) => saveSafetensors(path.join(d, 'adapter_model.safetensors'), { prompt_embedding: fromArray(new Float32Array(3 * 128), [3, 128]) }));
      expect(load(d)).toThrow(/missing 'prompt_embeddings'; unexpected 'prompt_embedding'/);
    });
    it('a wrong shape', () => {
      const d = variant((d) => saveSafetensors(path.join(d, 'adapter_model.safetensors'), { prompt_embeddings: fromArray(new Float32Array(4 * 128), [4, 128]) }));
      expect(load(d)).toThrow(/'prompt_embeddings' has shape \[4, 128\], the config asks for \[3, 128\]/);
    });
    it('a config that does not fit the model (token_dim)', () => {
      const d = variant((d) => fs.writeFileSync(path.join(d, 'adapter_config.json'), JSON.stringify({ ...readJson(d), token_dim: 16 })));
      expect(load(d)).toThrow(/'prompt_embeddings' has shape \[3, 128\], the config asks for \[3, 64\]/);
    });
    it('bad configs: num_virtual_tokens 0 or a string, an unknown peft_type, not JSON', () => {
      const edit = (patch: object) => variant((d) => fs.writeFileSync(path.join(d, 'adapter_config.json'), JSON.stringify({ ...readJson(d), ...patch })));
      expect(load(edit({ num_virtual_tokens: 0 }))).toThrow(/numVirtualTokens must be a positive integer, got 0/);
      expect(load(edit({ num_virtual_tokens: 'three' }))).toThrow(/numVirtualTokens must be a positive integer, got three/);
      expect(load(edit({ peft_type: 'PROMPT_TUNNING' }))).toThrow(/peft_type "PROMPT_TUNNING" is not supported/);
      expect(load(variant((d) => fs.writeFileSync(path.join(d, 'adapter_config.json'), '{"peft_type": ')))).toThrow(/adapter_config\.json/);
    });
    it('a missing weights file', () => {
      expect(load(variant((d) => fs.unlinkSync(path.join(d, 'adapter_model.safetensors'))))).toThrow(/adapter_model\.safetensors does not exist/);
    });
  });
});
