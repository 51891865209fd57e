/**
 * The real pretrained stories260K (../shared/models): greedy decoding from BOS reproduces llama2.c's known
 * text, and the CLI's generate and eval-loss verbs run end to end on it. Skipped, saying so, without ../shared.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, generate, getPeftModel, loadLlama2cModel, loadTokenizer, LoraConfig, saveModelFolder, setBackend, tidy } from '../../lib';
import { backendsUnderTest, backendsWithKernels } from '../helpers/backends';

const DIR = path.join(__dirname, '..', '..', '..', 'shared', 'models', 'stories260K');
const MODEL = path.join(DIR, 'stories260K.bin');
const KNOWN = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, ' +
  'she saw a big, red ball. She wanted to play with it, but it was too high';
const present = fs.existsSync(MODEL);
if (!present) console.log(`skipping the stories260K specs: ${MODEL} is absent (../shared is not beside this checkout)`);
const maybe = present ? describe : describe.skip;

/** Greedy text from BOS, printed as llama2.c prints it, until it is at least as long as `length`. */
function greedyText(file: string, length: number): string {
  const model = loadLlama2cModel(file);
  const tok = loadTokenizer(path.join(DIR, 'tok512.bin'));
  let text = '', prev = tok.bosId!;
  const ids = generate(model, [tok.bosId!], { maxNewTokens: 120 });
  for (const id of ids) {
    text += tok.decodeToken!(prev, id);
    prev = id;
    if (text.length >= length) break;
  }
  model.dispose();
  return text;
}

maybe('stories260K', () => {
  describe.each(backendsWithKernels('rmsNormForward', 'rmsNormBackward', 'layerNormForward', 'embeddingForward', 'attentionForward', 'crossEntropyForward'))('on %s', (name) => {
    beforeAll(() => setBackend(name));

    it('greedy decoding from BOS gives the known text exactly', () => {
      expect(greedyText(MODEL, KNOWN.length).slice(0, KNOWN.length)).toBe(KNOWN);
    });
  });

  it('the int8 export (dequantized) starts the same story', () => {
    setBackend('native');
    expect(greedyText(path.join(DIR, 'stories260K-q8.bin'), 40).slice(0, 40)).toBe(KNOWN.slice(0, 40));
  });

  describe('the peftjs command', () => {
    // The compiled command (npm install builds dist/ through the prepare script), as a user runs it.
    const built = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
    const peftjs = (...args: string[]) => {
      if (!fs.existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
      return execFileSync(process.execPath, [built, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    };

    it('generate prints the known text', () => {
      expect(peftjs('generate', '--model', MODEL, '--max-tokens', '60')).toContain(KNOWN);
    });

    it('eval-loss prints only JSON on stdout, with a loss that a story lowers', () => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-')), 'story.txt');
      fs.writeFileSync(file, KNOWN);
      const story = JSON.parse(peftjs('eval-loss', '--model', MODEL, '--text', file));
      fs.writeFileSync(file, 'zq xv kj qqq wplm zzzz brrrk vvv');
      const noise = JSON.parse(peftjs('eval-loss', '--model', MODEL, '--text', file));
      expect(Object.keys(story).sort()).toEqual(['loss', 'perplexity', 'tokens']);
      expect(story.perplexity).toBeCloseTo(Math.exp(story.loss), 6);
      expect(story.loss).toBeGreaterThan(0);
      expect(story.loss).toBeLessThan(noise.loss);
    });

    it('an adapter trained here loads with --adapter, lowers eval-loss on its text, and merges into an HF folder with the same loss', () => {
      setBackend('native');
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-s260-'));
      const text = 'The cat sat on the mat. The cat sat on the mat. The cat sat on the mat.';
      const file = path.join(work, 'cat.txt');
      fs.writeFileSync(file, text);
      const model = loadLlama2cModel(MODEL);
      const tok = loadTokenizer(path.join(DIR, 'tok512.bin'));
      const peft = getPeftModel(model, new LoraConfig({ r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] }));
      const ids = tok.encode(text, { bos: true });
      const batch = { data: Int32Array.from(ids), shape: [1, ids.length] };
      const opt = new AdamW(peft.trainableParameters(), { lr: 2e-2 });
      for (let i = 0; i < 15; i++) {
        opt.zeroGrad();
        tidy(() => model.forward({ inputIds: batch, labels: batch }).loss!.backward());
        opt.step();
      }
      const adapter = path.join(work, 'adapter');
      peft.savePretrained(adapter);
      const base = JSON.parse(peftjs('eval-loss', '--model', MODEL, '--text', file));
      const adapted = JSON.parse(peftjs('eval-loss', '--model', MODEL, '--text', file, '--adapter', adapter));
      expect(adapted.loss).toBeLessThan(base.loss - 0.1);
      const merged = path.join(work, 'merged');
      peftjs('merge', '--model', MODEL, '--adapter', adapter, '--out', merged);
      expect(fs.readdirSync(merged).sort()).toEqual(['config.json', 'model.safetensors']);
      const fromFolder = JSON.parse(peftjs('eval-loss', '--model', merged, '--tokenizer', path.join(DIR, 'tok512.bin'), '--text', file));
      expect(fromFolder.loss).toBeCloseTo(adapted.loss, 4);
      expect(JSON.parse(fs.readFileSync(path.join(merged, 'config.json'), 'utf8')).rope_interleaved).toBeUndefined();
    });

    it('a llama2.c model written as an HF folder (q/k permuted to rotate_half) tells the same story', () => {
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-s260-'));
      const model = loadLlama2cModel(MODEL);
      saveModelFolder(model, work);
      model.dispose();
      const out = peftjs('generate', '--model', work, '--tokenizer', path.join(DIR, 'tok512.bin'), '--max-tokens', '60');
      expect(out).toContain(KNOWN);
    });

    it('names a bad flag', () => {
      expect(() => peftjs('generate', '--model', MODEL, '--max-tokens', 'many')).toThrow(/--max-tokens must be a non-negative integer, got 'many'/);
      expect(() => peftjs('eval-loss', '--modle', MODEL)).toThrow(/unknown flag --modle/);
    });
  });
});
