/**
 * Trainable tokens (HF peft's TrainableTokensConfig / TrainableTokensLayer): adapter folders in HF's layout
 * written by test/fixtures/peft/make_ln_tokens_fixture.py (Llama's embed_tokens; GPT-2's wte with the tied
 * lm_head following it) load to torch's logits on js and native; save -> load byte-identical; merged ==
 * unmerged; identity at init; only the chosen rows train; HF's trainable counts; overlap rules; bad input.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  Embedding, GPT2Config, GPT2LMHeadModel, getPeftModel, PeftModel, setBackend, TiedTrainableTokensLayer, TrainableTokensConfig, TrainableTokensLayer,
} from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { checkFixture, checkIdentityAtInit, load, logitsOf, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

describe.each(['native', 'js'] as const)('HF-layout trainable tokens folders on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));
  it('tokens_llama: torch\'s logits, byte-identical round trip, merged == unmerged', () => {
    const peft = checkFixture('tokens_llama', 'llama');
    expect(peft.model.getSubmodule('model.embed_tokens')).toBeInstanceOf(TrainableTokensLayer);
    expect(peft.model.getSubmodule('lm_head')).not.toBeInstanceOf(TiedTrainableTokensLayer);   // not tied in the Llama fixture
  });
  it('tokens_gpt2 (lm_head tied to wte): torch\'s logits through both, round trip, merged == unmerged', () => {
    const peft = checkFixture('tokens_gpt2', 'gpt2');
    const head = peft.model.getSubmodule('lm_head') as TiedTrainableTokensLayer;
    expect(head).toBeInstanceOf(TiedTrainableTokensLayer);
    expect(head.tied).toBe(peft.model.getSubmodule('transformer.wte'));
  });
});

describe('trainable tokens as HF peft makes them', () => {
  it('default target: the input embedding\'s path; key <embedding>.trainable_tokens_delta [k, dim]; trainable = k * dim', () => {
    const model = load('llama');
    const all = model.numParameters();
    const peft = getPeftModel(model, new TrainableTokensConfig({ tokenIndices: [1, 2, 3] }));
    expect(peft.peftConfig.get('default')!.toJSON()).toMatchObject({ target_modules: 'model.embed_tokens', token_indices: [1, 2, 3], init_weights: true, peft_type: 'TRAINABLE_TOKENS' });
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 3 * 32, all: all + 3 * 32 });
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    expect(Object.fromEntries([...e].map(([k, v]) => [k, v.shape]))).toEqual({ 'base_model.model.model.embed_tokens.trainable_tokens_delta': [3, 32] });
  });

  it('is the identity at init (the rows start as the embedding\'s), tied or not', () => {
    checkIdentityAtInit((m) => getPeftModel(m, new TrainableTokensConfig({ tokenIndices: [10, 42] })));
    checkIdentityAtInit((m) => getPeftModel(m, new TrainableTokensConfig({ tokenIndices: [3, 61] })), 'gpt2');
  });

  it('trainable count on GPT-2 small (wte, 3 tokens, lm_head tied): 3 x 768, the tied head adds nothing', () => {
    const model = withoutInit(() => new GPT2LMHeadModel(new GPT2Config()));
    const peft = getPeftModel(model, new TrainableTokensConfig({ tokenIndices: [50256, 0, 1000] }));
    expect(peft.peftConfig.get('default')!.toJSON().target_modules).toBe('transformer.wte');
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 2304, all: 124_439_808 + 2304 });
  });

  it('only the chosen rows train: merged, the table differs from the base in those rows alone; unmerge restores it bit for bit', () => {
    for (const family of ['llama', 'gpt2']) {
      const model = load(family);
      const emb = (family === 'llama' ? model.getSubmodule('model.embed_tokens') : model.getSubmodule('transformer.wte')) as Embedding;
      const base = emb.weight.toFloat32Array();
      const ids = family === 'llama' ? [10, 42, 83] : [3, 61, 70];
      const peft = getPeftModel(model, new TrainableTokensConfig({ tokenIndices: ids }));
      const { first, last } = trainSteps(peft, family);
      expect(last).toBeLessThan(first);
      expect([...emb.weight.toFloat32Array()]).toEqual([...base]);   // the base stays frozen
      const logits = logitsOf(peft.model, family);
      peft.merge();
      expect(logitsOf(peft.model, family)).toAllClose(logits, { atol: 1e-5, rtol: 1e-5 });
      const merged = emb.weight.toFloat32Array();
      const dim = emb.embeddingDim;
      for (let row = 0; row < emb.numEmbeddings; row++) {
        const same = merged.subarray(row * dim, (row + 1) * dim).every((v, i) => v === base[row * dim + i]);
        expect({ row, changed: !same }).toEqual({ row, changed: ids.includes(row) });
      }
      peft.unmerge();
      expect(Buffer.from(emb.weight.toFloat32Array().buffer).equals(Buffer.from(base.buffer))).toBe(true);
    }
  });

  it('several adapters: disjoint tokens run together; overlapping ones are refused as HF refuses them', () => {
    const peft = PeftModel.fromPretrained(load('llama'), path.join(PEFT_FIXTURES, 'tokens_llama'));   // 10, 42, 83, 5
    const one = logitsOf(peft.model, 'llama');
    peft.addAdapter('other', new TrainableTokensConfig({ tokenIndices: [11, 22], initWeights: false }));
    peft.addAdapter('overlap', new TrainableTokensConfig({ tokenIndices: [42] }));
    peft.setAdapter(['default', 'other']);
    const both = logitsOf(peft.model, 'llama');
    expect(() => expect(both).toAllClose(one, { atol: 1e-3 })).toThrow();
    peft.merge();
    expect(logitsOf(peft.model, 'llama')).toAllClose(both, { atol: 1e-5, rtol: 1e-5 });
    peft.unmerge();
    peft.setAdapter(['default', 'overlap']);
    expect(() => logitsOf(peft.model, 'llama')).toThrow(/token indices of adapter 'overlap' are already defined.*disjunct token indices/);
    expect(() => peft.merge()).toThrow(/token indices of adapter 'overlap' are already defined/);
  });
});

describe('bad trainable tokens input is an error naming the field', () => {
  it('in the constructor and on the model', () => {
    expect(() => new TrainableTokensConfig({ tokenIndices: [1, -2] })).toThrow(/TrainableTokensConfig: tokenIndices must be a list of non-negative integers/);
    expect(() => new TrainableTokensConfig({ tokenIndices: '3' as never })).toThrow(/tokenIndices must be a list/);
    expect(() => new TrainableTokensConfig({ tokenIndices: [4, 4] })).toThrow(/tokenIndices lists token 4 twice/);
    expect(() => new TrainableTokensConfig({ tokenIndices: [4], initWeights: 1 as never })).toThrow(/initWeights must be a boolean/);
    expect(() => getPeftModel(load('llama'), new TrainableTokensConfig({ tokenIndices: [97] }))).toThrow(/tokenIndices holds 97, outside the vocabulary of 'model\.embed_tokens' \(97 rows\)/);
    expect(() => getPeftModel(load('llama'), new TrainableTokensConfig())).toThrow(/tokenIndices is empty/);
    expect(() => getPeftModel(load('llama'), new TrainableTokensConfig({ tokenIndices: [1], targetModules: ['embed_tokens', 'lm_head'] })))
      .toThrow(/target 'lm_head' is a Linear; trainable tokens adapt embedding layers/);
  });

  it('in adapter_config.json and the weights: the file and the key named', () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.join(PEFT_FIXTURES, 'tokens_llama'))) fs.copyFileSync(path.join(PEFT_FIXTURES, 'tokens_llama', f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...good, token_indices: [1, 'x'] }));
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: TrainableTokensConfig: tokenIndices must be a list of non-negative integers/);
    fs.writeFileSync(file, JSON.stringify({ ...good, token_indices: [10, 42, 83] }));
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/'model\.embed_tokens\.trainable_tokens_delta' has shape \[4, 32\], the model's adapter has \[3, 32\]/);
  });
});
