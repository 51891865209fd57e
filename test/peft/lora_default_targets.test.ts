/** LoRA without targetModules: HF peft's default targets for the model's architecture, or an error naming the type. */
import * as path from 'path';
import { getPeftModel, loadHfModel, LoraConfig, LoraLinear, Module, setBackend } from '../../lib';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');

beforeAll(() => setBackend('native'));

function loraPaths(model: Module): string[] {
  return [...model.namedModules()].filter(([, m]) => m instanceof LoraLinear).map(([p]) => p.replace(/\.\d+\./, '.N.'));
}

describe('LoRA default target modules', () => {
  it.each([['llama', ['q_proj', 'v_proj']], ['gpt2', ['c_attn']]] as const)('%s: HF peft\'s defaults %j', (family, targets) => {
    const peft = getPeftModel(loadHfModel(path.join(MODELS, family)), new LoraConfig({ r: 2 }));
    const names = [...new Set(loraPaths(peft.model).map((p) => p.slice(p.lastIndexOf('.') + 1)))].sort();
    expect(names).toEqual([...targets].sort());
    expect((peft.peftConfig.get('default') as LoraConfig).targetModules).toEqual(targets);
  });

  it('a model without a known type needs targetModules, and says so', () => {
    class Bare extends Module {}
    expect(() => getPeftModel(new Bare(), new LoraConfig({ r: 2 }))).toThrow(/^LoRA: no default target modules for model type 'null' \(known: llama, gpt2, bert, .*\); set targetModules$/);
  });
});
