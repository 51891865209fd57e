/**
 * LoKr (HF peft's LoKrConfig / lokr.Linear): adapter folders in HF's layout written by
 * test/fixtures/peft/make_lycoris_vera_fixture.py load to torch's logits; save -> load is byte-identical;
 * merged == unmerged; identity at init; HF's factorisation and parameter names; trainable counts; bad input.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GPT2Config, GPT2LMHeadModel, getPeftModel, LlamaConfig, LlamaForCausalLM, LoKrConfig, LoKrLinear, PeftModel, setBackend } from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { checkFixture, checkIdentityAtInit, load, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

/** HF's factorization, transcribed here on its own (lokr/layer.py), so the shapes are not checked against the code under test. */
function hfFactorization(dimension: number, factor = -1): [number, number] {
  if (factor > 0 && dimension % factor === 0) return [factor, dimension / factor];
  if (factor === -1) factor = dimension;
  let [m, n] = [1, dimension];
  const length = m + n;
  while (m < n) {
    let newM = m + 1;
    while (dimension % newM !== 0) newM += 1;
    const newN = dimension / newM;
    if (newM + newN > length || newM > factor) break;
    [m, n] = [newM, newN];
  }
  return m > n ? [n, m] : [m, n];
}

describe.each(['native', 'js'] as const)('HF-layout LoKr folder on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));
  it('lokr_llama (decompose_both, decompose_factor 4, r = 1 and 8): torch\'s logits, byte-identical round trip, merged == unmerged', () => {
    checkFixture('lokr_llama', 'llama');
  });
});

describe('LoKr adapters as HF peft makes them', () => {
  it('HF\'s factorization examples and the tiny Llama\'s dimensions', () => {
    // the docstring's examples, then the fixture's dimensions
    expect([hfFactorization(256), hfFactorization(128), hfFactorization(127), hfFactorization(128, 4)]).toEqual([[16, 16], [8, 16], [1, 127], [4, 32]]);
    expect([hfFactorization(32), hfFactorization(56), hfFactorization(16), hfFactorization(768), hfFactorization(128, 3)]).toEqual([[4, 8], [7, 8], [4, 4], [24, 32], [2, 64]]);
  });

  it('keys and shapes per HF (w1 whole, w2 split when r < max(b, d) / 2; w1 split with decompose_both)', () => {
    const peft = getPeftModel(load('llama'), new LoKrConfig({ r: 2, targetModules: ['down_proj'], rankPattern: { 'layers\\.1\\.mlp\\.down_proj': 1 }, decomposeBoth: true }));
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    const shapes = Object.fromEntries([...e].map(([k, v]) => [k.replace('base_model.model.model.layers.', ''), v.shape]));
    // down_proj [32, 56]: out 32 = 4 x 8, in 56 = 7 x 8; w1 [4, 7] (r = 2 >= max(4, 7) / 2? no: 2 < 3.5, split), w2 [8, 8] split (2 < 4)
    const [a, b] = hfFactorization(32), [c, d] = hfFactorization(56);
    expect(shapes).toEqual({
      '0.mlp.down_proj.lokr_w1_a': [a, 2], '0.mlp.down_proj.lokr_w1_b': [2, c], '0.mlp.down_proj.lokr_w2_a': [b, 2], '0.mlp.down_proj.lokr_w2_b': [2, d],
      '1.mlp.down_proj.lokr_w1_a': [a, 1], '1.mlp.down_proj.lokr_w1_b': [1, c], '1.mlp.down_proj.lokr_w2_a': [b, 1], '1.mlp.down_proj.lokr_w2_b': [1, d],
    });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LOKR', r: 2, alpha: 8, decompose_both: true, decompose_factor: -1, rank_dropout_scale: false, init_weights: true });
  });

  it('is the identity at init (w1 = 0), with \'lycoris\' init too (w2 = 0); init false is not', () => {
    checkIdentityAtInit((m) => getPeftModel(m, new LoKrConfig({ targetModules: ['q_proj', 'up_proj'] })));
    checkIdentityAtInit((m) => getPeftModel(m, new LoKrConfig({ r: 1, targetModules: ['q_proj'], decomposeBoth: true, initWeights: 'lycoris' })));
    const peft = getPeftModel(load('llama'), new LoKrConfig({ targetModules: ['q_proj'], initWeights: false }));
    expect((peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as LoKrLinear).lokr_w1.get('default').toFloat32Array().some((v) => v !== 0)).toBe(true);
  });

  it('trains: the loss falls', () => {
    const peft = getPeftModel(load('llama'), new LoKrConfig({ r: 2, targetModules: ['q_proj', 'v_proj', 'up_proj'] }));
    const { first, last, msPerStep } = trainSteps(peft, 'llama');
    expect(last).toBeLessThan(first);
    expect(peft.model.namedParameters().filter(([, t]) => t.requiresGrad).every(([p]) => p.includes('.lokr_w'))).toBe(true);
    process.stdout.write(`lokr step (tiny llama, r=2 on q/v/up): ${msPerStep.toFixed(2)} ms\n`);
  });

  it('trainable count of a default LoKrConfig: HF\'s shapes on GPT-2 small dimensions (Llama blocks: HF refuses GPT-2\'s Conv1D)', () => {
    const gpt2 = withoutInit(() => new GPT2LMHeadModel(new GPT2Config({ nLayer: 1 })));
    expect(() => getPeftModel(gpt2, new LoKrConfig())).toThrow(/'transformer\.h\.0\.attn\.c_attn' of type Conv1D is not supported/);
    const model = withoutInit(() => new LlamaForCausalLM(new LlamaConfig({ hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 12, vocabSize: 64 })));
    const all = model.numParameters();
    const peft = getPeftModel(model, new LoKrConfig());
    // q_proj and v_proj [768, 768], r = 8, factor -1: 768 = 24 x 32 both ways; w1 [24, 24] whole (no decompose_both);
    // w2: 8 < max(32, 32) / 2 = 16, so w2_a [32, 8] + w2_b [8, 32].
    const [a, b] = hfFactorization(768);
    const perModule = a * a + b * 8 + 8 * b;
    expect(perModule).toBe(1088);
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 12 * 2 * perModule, all: all + 12 * 2 * perModule });
  });
});

describe('bad LoKr input is an error naming the field', () => {
  it('in the constructor and at injection', () => {
    expect(() => new LoKrConfig({ r: 0 })).toThrow(/LoKrConfig: r must be a positive integer, got 0/);
    expect(() => new LoKrConfig({ decomposeFactor: 0 })).toThrow(/decomposeFactor must be -1 or a positive integer, got 0/);
    expect(() => new LoKrConfig({ decomposeFactor: 2.5 })).toThrow(/decomposeFactor/);
    expect(() => new LoKrConfig({ decomposeBoth: 1 as never })).toThrow(/decomposeBoth must be a boolean/);
    expect(() => new LoKrConfig({ initWeights: 'pissa' as never })).toThrow(/initWeights must be true, false or 'lycoris'/);
    expect(() => new LoKrConfig({ useEffectiveConv2d: true })).toThrow(/useEffectiveConv2d/);
    // 56 (down_proj's in_features) is not a multiple of 3: HF would search another split silently; a new adapter is refused.
    expect(() => getPeftModel(load('llama'), new LoKrConfig({ targetModules: ['down_proj'], decomposeFactor: 3 })))
      .toThrow(/LoKrConfig: decomposeFactor 3 does not divide in_features 56 of 'model\.layers\.0\.mlp\.down_proj'/);
  });

  it('in adapter_config.json: the file and the key named; a file\'s non-dividing factor takes HF\'s split', () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.join(PEFT_FIXTURES, 'lokr_llama'))) fs.copyFileSync(path.join(PEFT_FIXTURES, 'lokr_llama', f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    const withField = (k: string, v: unknown) => fs.writeFileSync(file, JSON.stringify({ ...good, [k]: v }));
    withField('decompose_factor', '4');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'decompose_factor' must be a number, got "4"/);
    withField('decompose_factor', -3);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: LoKrConfig: decomposeFactor must be -1 or a positive integer, got -3/);
    withField('decompose_both', 'yes');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/'decompose_both' must be a boolean/);
    withField('init_weights', 'olora');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/initWeights must be true, false or 'lycoris'/);
    withField('r', 0);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/LoKrConfig: r must be a positive integer, got 0/);
    // factor 3 on a file is not refused as a config error: it takes HF's split (32 -> (2, 16), 56 -> (2, 28)), which is
    // not how these tensors (factor 4) were made, so the loader names the tensors that do not fit.
    withField('decompose_factor', 3);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/missing 8 key\(s\): 'model\.layers\.0\.self_attn\.q_proj\.lokr_w1'/);
  });
});
