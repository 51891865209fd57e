/**
 * Layer freezing through the peft API: the embeddings and the first N blocks frozen, the rest trains in
 * place; disabled == base; saved under the base keys; errors.
 */
import * as fs from 'fs';
import * as path from 'path';
import { getPeftModel, LayerFreezingConfig, PeftModel, SafetensorsFile, setBackend } from '../../lib';
import { inputsOf, openGolden } from '../helpers/golden';
import { loadFamily, logitsOf, tempDir, train } from '../helpers/peft_run';

/**
 * Trainable counts by hand (tiny models, 2 blocks each).
 * llama (hidden 32, kv 16, intermediate 56, vocab 97, untied head), 1 frozen block + embeddings: block 1 =
 *   q 1024 + k 512 + v 512 + o 1024 + gate/up/down 3 x 1792 + two RMSNorms 64 = 8512; final norm 32; lm_head 3104 -> 11,648.
 * gpt2 (n_embd 32, inner 128, lm_head tied to wte), 1 frozen block + embeddings: block 1 = ln_1 64 + c_attn 3168 +
 *   c_proj 1056 + ln_2 64 + c_fc 4224 + mlp.c_proj 4128 = 12,704; ln_f 64 -> 12,768 (the tied head freezes with wte).
 * bert (hidden 32, intermediate 48, 3 labels), 2 frozen blocks + embeddings: pooler 1056 + classifier 99 -> 1,155.
 */
describe.each(['js', 'native'] as const)('layer freezing on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each([
    ['llama', 1, 11648, 'model.layers.1.self_attn.q_proj.weight', 'model.layers.0.'],
    ['gpt2', 1, 12768, 'transformer.h.1.attn.c_attn.weight', 'transformer.h.0.'],
    ['bert', 2, 1155, 'bert.pooler.dense.weight', 'bert.encoder.layer.'],
  ] as const)('on %s with %d frozen blocks: %d trainable; training, disable, save/load', (family, n, expected, savedKey, frozenPrefix) => {
    const golden = openGolden(family);
    const inputs = inputsOf(family, golden);
    const peft = getPeftModel(loadFamily(family), new LayerFreezingConfig({ numFrozenLayers: n }));
    const base = logitsOf(peft, inputs);
    expect(base).toAllClose(golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
    expect(peft.getNbTrainableParameters().trainable).toBe(expected);
    const trainable = peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([p]) => p);
    expect(trainable.some((p) => p.startsWith(frozenPrefix) || /embed|wte|wpe/.test(p))).toBe(false);
    const frozen = peft.model.namedParameters().filter(([, t]) => !t.requiresGrad).map(([p, t]) => [p, t.toFloat32Array()] as const);

    const losses = train(peft, inputs, 5, 1e-2);
    expect(losses[4]).toBeLessThan(losses[0]);
    for (const [p, before] of frozen) expect(peft.model.getParameter(p)).toAllClose(before, { atol: 0, rtol: 0 });
    const adapted = logitsOf(peft, inputs);
    expect(peft.disableAdapter(() => logitsOf(peft, inputs))).toAllClose(base, { atol: 1e-6 });

    const dir = tempDir('freeze');
    peft.savePretrained(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LAYER_FREEZING', num_frozen_layers: n, freeze_embeddings: true });
    const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
    expect(st.names()).toContain(`base_model.model.${savedKey}`);
    expect(st.names().reduce((s, k) => s + st.info(k).shape.reduce((a, b) => a * b, 1), 0)).toBe(expected);
    st.close();
    const reloaded = PeftModel.fromPretrained(loadFamily(family), dir);
    expect(logitsOf(reloaded, inputs)).toAllClose(adapted, { atol: 1e-6 });
    golden.file.close();
  });
});

describe('layer freezing: options and errors', () => {
  beforeAll(() => setBackend('native'));

  it('freezeEmbeddings false trains the embeddings (GPT-2\'s tied head with them); 0 frozen blocks trains all but the embeddings', () => {
    const gpt2 = getPeftModel(loadFamily('gpt2'), new LayerFreezingConfig({ numFrozenLayers: 2, freezeEmbeddings: false }));
    // wte 89 x 32 = 2848 (= lm_head) + wpe 64 x 32 = 2048 + ln_f 64.
    expect(gpt2.getNbTrainableParameters().trainable).toBe(2848 + 2048 + 64);
    const llama = getPeftModel(loadFamily('llama'), new LayerFreezingConfig());
    // Everything but embed_tokens (97 x 32 = 3104).
    expect(llama.getNbTrainableParameters().trainable).toBe(llama.getNbTrainableParameters().all - 3104);
  });

  it('bad configs and corrupted files are clear errors', () => {
    expect(() => new LayerFreezingConfig({ numFrozenLayers: -1 })).toThrow(/numFrozenLayers must be a non-negative integer, got -1/);
    expect(() => new LayerFreezingConfig({ numFrozenLayers: 1.5 })).toThrow(/numFrozenLayers/);
    expect(() => getPeftModel(loadFamily('llama'), new LayerFreezingConfig({ numFrozenLayers: 3 }))).toThrow(/numFrozenLayers is 3 but the model has 2 blocks \(model\.layers\)/);
    const peft = getPeftModel(loadFamily('llama'), new LayerFreezingConfig({ numFrozenLayers: 1 }));
    const dir = tempDir('freeze-bad');
    peft.savePretrained(dir);
    const cfg = path.join(dir, 'adapter_config.json');
    const good = fs.readFileSync(cfg, 'utf8');
    // A file saved with 1 frozen block loaded under a config that freezes none: the lower block's keys are missing.
    fs.writeFileSync(cfg, good.replace('"num_frozen_layers": 1', '"num_frozen_layers": 0'));
    expect(() => PeftModel.fromPretrained(loadFamily('llama'), dir)).toThrow(/missing \d+ key\(s\): 'model\.layers\.0\./);
    fs.writeFileSync(cfg, good.replace('"num_frozen_layers": 1', '"num_frozen_layers": "one"'));
    expect(() => PeftModel.fromPretrained(loadFamily('llama'), dir)).toThrow(/'num_frozen_layers' must be a number/);
    fs.writeFileSync(cfg, good);
    const weights = path.join(dir, 'adapter_model.safetensors');
    fs.writeFileSync(weights, fs.readFileSync(weights).subarray(0, 100));
    expect(() => PeftModel.fromPretrained(loadFamily('llama'), dir)).toThrow(/adapter_model\.safetensors/);
  });
});
