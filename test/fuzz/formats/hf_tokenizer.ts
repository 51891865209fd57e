/** HF tokenizer.json (and tokenizer_config.json beside it): JSON field edits, and a few byte-level ones. */
import * as fs from 'fs';
import * as path from 'path';
import { loadTokenizer } from '../../../lib';
import { mutateBytes, mutateJson, type Rng } from '../mutate';
import { check, copyFolder, type FuzzFormat, samplesIn } from './format';

const TOKENIZERS = path.join(__dirname, '..', '..', 'fixtures', 'io', 'tokenizers');
const TOP_KEYS = ['model', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'bos_token', 'eos_token', 'pad_token', 'add_bos_token'];
const TEXTS = ['Hello world', 'héllo, wörld! 123 ✓', ''];

/** model.* edits: the paths random descent rarely takes through a thousand vocab entries. */
function mutateModel(rng: Rng, text: string) {
  const doc = JSON.parse(text) as { model: Record<string, unknown> };
  const inner = mutateJson(rng, JSON.stringify(doc.model), ['type', 'vocab', 'merges', 'unk_token', 'byte_fallback', 'continuing_subword_prefix']);
  // Spliced in as text: the edit may hold spellings (NaN) that JSON.parse would not give back.
  const outer = JSON.stringify({ ...doc, model: '@@MODEL@@' }).replace('"@@MODEL@@"', () => inner.bytes.toString('utf8'));
  return { bytes: Buffer.from(outer), what: `model: ${inner.what}` };
}

export const hfTokenizerFormat: FuzzFormat = {
  name: 'HF tokenizer.json',
  makeSamples(dir) {
    for (const name of ['gpt2', 'llama']) {
      fs.mkdirSync(path.join(dir, name));
      copyFolder(path.join(TOKENIZERS, name), path.join(dir, name));
    }
    return [];
  },
  makeCase(rng, samplesDir, caseDir) {
    const sample = rng.pick(samplesIn(samplesDir));
    copyFolder(sample, caseDir);
    const target = rng.chance(0.8) ? 'tokenizer.json' : 'tokenizer_config.json';
    const file = path.join(caseDir, target);
    const src = fs.readFileSync(file);
    const r = rng.next();
    const m = r < 0.15 ? mutateBytes(rng, src, 256) : target === 'tokenizer.json' && r < 0.5 ? mutateModel(rng, src.toString('utf8')) : mutateJson(rng, src.toString('utf8'), TOP_KEYS);
    fs.writeFileSync(file, m.bytes);
    return {
      what: `${path.basename(sample)}/${target}: ${m.what}`,
      file,
      load: () => {
        const t = loadTokenizer(caseDir);
        check(Number.isSafeInteger(t.vocabSize) && t.vocabSize > 0, `vocabSize ${t.vocabSize}`);
        for (const text of TEXTS) {
          const ids = t.encode(text);
          check(ids.every((id) => Number.isInteger(id) && id >= 0 && id < t.vocabSize), `encode(${JSON.stringify(text)}) gave ids outside 0..${t.vocabSize - 1}: ${ids}`);
          check(text === '' || ids.length > 0, `encode(${JSON.stringify(text)}) gave no ids`);
          check(typeof t.decode(ids) === 'string', 'decode');
        }
      },
    };
  },
};
