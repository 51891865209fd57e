/**
 * VeRA (HF peft's VeraConfig / VeraModel / vera.Linear): adapter folders in HF's layout written by
 * test/fixtures/peft/make_lycoris_vera_fixture.py (Llama with projections saved, Llama without them, GPT-2's
 * Conv1D) load to torch's logits; the projections drawn from projection_prng_key equal torch's bit for bit;
 * save -> load is byte-identical; merged == unmerged; identity at init; trainable counts; bad input.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GPT2Config, GPT2LMHeadModel, getPeftModel, manualSeed, Mt19937, PeftModel, setBackend, tidy, VeraConfig, VeraLinear, VeraProjections, veraProjectionsOf } from '../../lib';
import * as ops from '../../lib/tensor/ops';
import { forward, inputsOf, openGolden } from '../helpers/golden';
import { withoutInit } from '../../lib/nn/init';
import { checkFixture, checkIdentityAtInit, load, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

describe.each(['native', 'js'] as const)('HF-layout VeRA folders on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));
  it.each([['vera_llama', 'llama'], ['vera_noproj_llama', 'llama'], ['vera_gpt2', 'gpt2']])(
    '%s: torch\'s logits, byte-identical round trip, merged == unmerged', (name, family) => {
      checkFixture(name, family);
    });
});

describe('VeRA\'s projections are HF\'s', () => {
  it('MT19937 is std::mt19937 (the 10000th draw of the default seed 5489 is 4123659995)', () => {
    const g = new Mt19937(5489);
    let v = 0;
    for (let i = 0; i < 10000; i++) v = g.next();
    expect(v).toBe(4123659995);
  });

  it('drawn from projection_prng_key they equal the ones torch drew into the fixture, bit for bit; sized by the largest target', () => {
    const file = rawEntries(path.join(PEFT_FIXTURES, 'vera_llama', 'adapter_model.safetensors'));
    // fresh adapter, same key and targets: q [32, 32], v [16, 32], down [32, 56] -> vera_A [4, 56], vera_B [32, 4]
    const peft = getPeftModel(load('llama'), new VeraConfig({ r: 4, targetModules: ['q_proj', 'v_proj', 'down_proj'], projectionPrngKey: 7 }));
    const proj = veraProjectionsOf(peft)!;
    expect([proj.vera_A.shape, proj.vera_B.shape]).toEqual([[4, 56], [32, 4]]);
    const bytes = (t: { toFloat32Array(): Float32Array }) => Buffer.from(t.toFloat32Array().buffer);
    expect(bytes(proj.vera_A).equals(file.get('base_model.vera_A')!.bytes)).toBe(true);
    expect(bytes(proj.vera_B).equals(file.get('base_model.vera_B')!.bytes)).toBe(true);
  });

  it('are shared, not parameters: neither trained nor counted (HF\'s buffers)', () => {
    const model = load('llama');
    const all = model.numParameters();
    const peft = getPeftModel(model, new VeraConfig({ r: 4, targetModules: ['q_proj', 'v_proj'] }));
    // lambda_b [out] + lambda_d [r]: q 32 + 4, v 16 + 4, two layers
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 2 * (36 + 20), all: all + 2 * (36 + 20) });
  });
});

describe('VeRA adapters as HF peft makes them', () => {
  it('keys and shapes: <module>.vera_lambda_b [out], .vera_lambda_d [r], base_model.vera_A / vera_B; none with saveProjection false', () => {
    const peft = getPeftModel(load('llama'), new VeraConfig({ r: 8, targetModules: ['k_proj', 'up_proj'] }));
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    expect(Object.fromEntries([...e].map(([k, v]) => [k, v.shape]))).toEqual({
      'base_model.vera_A': [8, 32], 'base_model.vera_B': [56, 8],
      ...Object.fromEntries([0, 1].flatMap((l) => [
        [`base_model.model.model.layers.${l}.self_attn.k_proj.vera_lambda_b`, [16]], [`base_model.model.model.layers.${l}.self_attn.k_proj.vera_lambda_d`, [8]],
        [`base_model.model.model.layers.${l}.mlp.up_proj.vera_lambda_b`, [56]], [`base_model.model.model.layers.${l}.mlp.up_proj.vera_lambda_d`, [8]],
      ])),
    });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'VERA', r: 8, projection_prng_key: 0, save_projection: true, vera_dropout: 0, d_initial: 0.1, fan_in_fan_out: false, bias: 'none', init_weights: true });
    const noproj = getPeftModel(load('llama'), new VeraConfig({ r: 8, targetModules: ['k_proj'], saveProjection: false }));
    const dir2 = tmp();
    noproj.savePretrained(dir2);
    expect([...rawEntries(path.join(dir2, 'adapter_model.safetensors')).keys()].some((k) => k.includes('vera_A'))).toBe(false);
  });

  it('is the identity at init (lambda_b = 0, lambda_d = d_initial); init false is not', () => {
    checkIdentityAtInit((m) => getPeftModel(m, new VeraConfig({ r: 4, targetModules: ['q_proj', 'down_proj'] })));
    const peft = getPeftModel(load('llama'), new VeraConfig({ r: 4, targetModules: ['q_proj'], dInitial: 0.05 }));
    const l = peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as VeraLinear;
    expect([...l.vera_lambda_d.get('default').toFloat32Array()]).toEqual(Array(4).fill(Math.fround(0.05)));
    const rnd = getPeftModel(load('llama'), new VeraConfig({ r: 4, targetModules: ['q_proj'], initWeights: false }));
    expect([...(rnd.model.getSubmodule('model.layers.0.self_attn.q_proj') as VeraLinear).vera_lambda_b.get('default').toFloat32Array()]).toEqual(Array(32).fill(1));
  });

  it('trains: the loss falls (GPT-2, Conv1D)', () => {
    const peft = getPeftModel(load('gpt2'), new VeraConfig({ r: 16, targetModules: ['c_attn', 'c_fc'] }));
    expect(peft.peftConfig.get('default')!.toJSON().fan_in_fan_out).toBe(true);
    const { first, last, msPerStep } = trainSteps(peft, 'gpt2');
    expect(last).toBeLessThan(first);
    process.stdout.write(`vera step (tiny gpt2, r=16 on c_attn/c_fc): ${msPerStep.toFixed(2)} ms\n`);
  });

  it('trainable count of a default VeraConfig on GPT-2 small (r = 256 on c_attn): HF\'s shapes', () => {
    const model = withoutInit(() => new GPT2LMHeadModel(new GPT2Config()));
    const peft = getPeftModel(model, new VeraConfig());
    // vera_lambda_b [2304] + vera_lambda_d [256] on each of 12 c_attn; GPT-2 small has 124,439,808 parameters.
    const lines: string[] = [];
    peft.printTrainableParameters((l) => lines.push(l));
    expect(lines).toEqual(['trainable params: 30,720 || all params: 124,470,528 || trainable%: 0.0247']);
    expect(peft.peftConfig.get('default')!.toJSON().target_modules).toEqual(['c_attn']);
  });
});

describe('VeRA layers reading one input share its projection x A^T', () => {
  const gradsOf = (peft: PeftModel) => {
    const golden = openGolden('llama');
    const loss = tidy(() => {
      const { loss: l } = forward(peft.model as never, inputsOf('llama', golden));
      l.backward();
      return l.item();
    });
    golden.file.close();
    const grads = peft.trainableParameters().map((p) => p.grad!.toFloat32Array());
    return { loss, grads };
  };
  const make = () => {
    manualSeed(3);  // initWeights false draws lambda_d: both models get the same
    return getPeftModel(load('llama'), new VeraConfig({ r: 8, targetModules: ['q_proj', 'k_proj', 'v_proj', 'down_proj'], initWeights: false }));
  };

  it('makes x A^T once per attention block for q, k and v (k narrower), with the gradients of separate products', () => {
    const linearSpy = jest.spyOn(ops, 'linear');
    const shared = gradsOf(make());
    const products = linearSpy.mock.calls.filter(([, w]) => w.shape[0] === 8).length;  // x A^T: A blocks have r = 8 rows
    linearSpy.mockRestore();
    // 2 layers: one product for q/k/v, one for down_proj, in each.
    expect(products).toBe(4);
    const project = jest.spyOn(VeraProjections.prototype, 'projectInput').mockImplementation(function (this: VeraProjections, x, r, inF, out) {
      return ops.linear(x, this.block(r, inF, out).a);
    });
    const separate = gradsOf(make());
    project.mockRestore();
    expect(shared.loss).toBeCloseTo(separate.loss, 6);
    shared.grads.forEach((g, i) => expect(g).toAllClose(separate.grads[i], { atol: 1e-6, rtol: 1e-5 }));
  });
});

describe('bad VeRA input is an error naming the field', () => {
  it('in the constructor', () => {
    expect(() => new VeraConfig({ r: 0 })).toThrow(/VeraConfig: r must be a positive integer, got 0/);
    expect(() => new VeraConfig({ projectionPrngKey: -1 })).toThrow(/projectionPrngKey must be a non-negative integer/);
    expect(() => new VeraConfig({ saveProjection: 'yes' as never })).toThrow(/saveProjection must be a boolean/);
    expect(() => new VeraConfig({ veraDropout: 1 })).toThrow(/veraDropout must be in \[0, 1\)/);
    expect(() => new VeraConfig({ bias: 'lora_only' as never })).toThrow(/bias must be 'none', 'all' or 'vera_only'/);
    expect(() => new VeraConfig({ dInitial: '0.1' as never })).toThrow(/dInitial must be a number/);
  });

  it('a second adapter HF refuses: wider / taller targets than the shared projections, a higher rank, another key or save_projection', () => {
    const peft = getPeftModel(load('llama'), new VeraConfig({ r: 4, targetModules: ['k_proj'] }));   // projections [4, 32] / [16, 4]
    expect(() => peft.addAdapter('wide', new VeraConfig({ r: 4, targetModules: ['down_proj'] }))).toThrow(/vera_A has a size of 32 but 56 or greater is required at 'model\.layers\.0\.mlp\.down_proj'.*targetModules/);
    expect(() => peft.addAdapter('tall', new VeraConfig({ r: 4, targetModules: ['q_proj'] }))).toThrow(/vera_B has a size of 16 but 32 or greater is required/);
    expect(() => peft.addAdapter('rank', new VeraConfig({ r: 8, targetModules: ['v_proj'] }))).toThrow(/vera_A has a size of 4 but 8 or greater is required \(r\)/);
    expect(() => peft.addAdapter('key', new VeraConfig({ r: 4, targetModules: ['v_proj'], projectionPrngKey: 1 }))).toThrow(/projectionPrngKey must be the same for all adapters/);
    expect(() => peft.addAdapter('save', new VeraConfig({ r: 4, targetModules: ['v_proj'], saveProjection: false }))).toThrow(/saveProjection/);
    // same shapes: accepted, and it reads the same projections
    peft.addAdapter('second', new VeraConfig({ r: 2, targetModules: ['v_proj'] }));
    expect(peft.peftConfig.has('second')).toBe(true);
  });

  it('in adapter_config.json and the weights: the file and the key named', () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.join(PEFT_FIXTURES, 'vera_llama'))) fs.copyFileSync(path.join(PEFT_FIXTURES, 'vera_llama', f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    const withField = (k: string, v: unknown) => fs.writeFileSync(file, JSON.stringify({ ...good, [k]: v }));
    withField('projection_prng_key', '7');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'projection_prng_key' must be a number, got "7"/);
    withField('r', 0);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: VeraConfig: r must be a positive integer, got 0/);
    withField('save_projection', 1);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/'save_projection' must be a boolean/);
    // a folder saved without projections but whose config says they are there
    const noproj = path.join(PEFT_FIXTURES, 'vera_noproj_llama');
    const dir2 = tmp();
    for (const f of fs.readdirSync(noproj)) fs.copyFileSync(path.join(noproj, f), path.join(dir2, f));
    const cfg2 = JSON.parse(fs.readFileSync(path.join(dir2, 'adapter_config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir2, 'adapter_config.json'), JSON.stringify({ ...cfg2, save_projection: true }));
    expect(() => PeftModel.fromPretrained(load('llama'), dir2)).toThrow(/save_projection is true but 'base_model\.vera_A' is not in the file/);
  });
});
