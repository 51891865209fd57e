/**
 * SFT data (lib/train/sft.ts): the label mask of a three-turn conversation under the real Qwen2 and Llama 3
 * templates (test/fixtures/chat) marks exactly the assistant tokens, checked by decoding the unmasked runs
 * against hand-written strings; prompt-completion rows (plain strings and conversational); truncation;
 * collate's target count; the Trainer on SFT examples; bad rows named by line and field.
 */
import * as fs from 'fs';
import * as path from 'path';
import { collate, LlamaConfig, LlamaForCausalLM, manualSeed, Trainer } from '../../lib';
import { HfTokenizer, loadTokenizer, type ChatMessage, type Tokenizer } from '../../lib/io';
import { IGNORE_INDEX } from '../../lib/ops/cross_entropy/op';
import { loadSftDataset, sftDataset, tokenizeConversation } from '../../lib/train/sft';
import { tempDir } from './train_fixtures';

const CHAT = path.resolve(__dirname, '../fixtures/chat');
const qwen2 = loadTokenizer(path.join(CHAT, 'qwen2')) as HfTokenizer;
const llama3 = loadTokenizer(path.join(CHAT, 'llama3')) as HfTokenizer;
const dir = tempDir('sft');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi!' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4' },
  { role: 'user', content: 'Thanks' },
  { role: 'assistant', content: 'Bye!' },
];

/** The runs of consecutive trained tokens, each decoded with its special tokens. */
function trainedRuns(tok: HfTokenizer, ids: number[], labels: number[]): string[] {
  const runs: number[][] = [];
  labels.forEach((l, t) => {
    if (l === IGNORE_INDEX) return;
    expect(l).toBe(ids[t]);
    if (t > 0 && labels[t - 1] !== IGNORE_INDEX) runs[runs.length - 1].push(ids[t]);
    else runs.push([ids[t]]);
  });
  return runs.map((r) => tok.decode(r, { keepSpecial: true }));
}

const writeJsonl = (name: string, rows: unknown[]) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return f;
};

describe('SFT: assistant-only labels', () => {
  test.each([
    ['qwen2', qwen2, ['Hello.<|im_end|>\n', '4<|im_end|>\n', 'Bye!<|im_end|>\n']],
    ['llama3', llama3, ['Hello.<|eot_id|>', '4<|eot_id|>', 'Bye!<|eot_id|>']],
  ] as const)('%s: the unmasked tokens are exactly the assistant turns (content and end-of-turn token)', (_name, tok, expected) => {
    const r = tokenizeConversation(tok, tok.chatTemplate()!, CONVERSATION);
    expect(r.inputIds).toEqual(tok.applyChatTemplate(CONVERSATION));
    expect(trainedRuns(tok, r.inputIds, r.labels)).toEqual(expected);
    // Everything else is the prompt side: the masked tokens decode to the rest of the text.
    const masked = r.inputIds.filter((_, t) => r.labels[t] === IGNORE_INDEX);
    expect(tok.decode(masked, { keepSpecial: true })).toBe(expected.reduce((text, s) => text.replace(s, ''), r.text));
  });

  test('a JSONL file of conversations: one example per row with its line; collate counts the trained next-token targets', () => {
    const f = writeJsonl('conv.jsonl', [{ messages: CONVERSATION }, '', { messages: CONVERSATION.slice(1, 3), id: 7 }]);
    const d = loadSftDataset(f, qwen2, { maxLength: 512 });
    expect(d.examples.map((e) => e.line)).toEqual([1, 3]);
    expect(trainedRuns(qwen2, d.examples[1].inputIds, d.examples[1].labels!)).toEqual(['Hello.<|im_end|>\n']);
    const b = collate(d.examples, 'causal_lm', qwen2.padId!);
    const trained = d.examples.reduce((n, e) => n + e.labels!.filter((l) => l !== IGNORE_INDEX).length, 0);
    expect(b.targets).toBe(trained);  // no trained token at position 0
    const cols = b.inputIds.shape[1];
    expect(Array.from(b.labels.data.slice(cols + d.examples[1].inputIds.length, 2 * cols)).every((l) => l === IGNORE_INDEX)).toBe(true);
  });

  test('prompt-completion rows: strings are joined untemplated (completion + EOS trained), lists of messages are templated', () => {
    const d = sftDataset([
      { prompt: 'Capital of France?', completion: ' Paris.' },
      { prompt: [{ role: 'user', content: 'Hi!' }], completion: [{ role: 'assistant', content: 'Hello.' }] },
    ], qwen2, { maxLength: 512 });
    expect(qwen2.decode(d.examples[0].inputIds, { keepSpecial: true })).toBe('Capital of France? Paris.<|im_end|>');
    expect(trainedRuns(qwen2, d.examples[0].inputIds, d.examples[0].labels!)).toEqual([' Paris.<|im_end|>']);
    expect(trainedRuns(qwen2, d.examples[1].inputIds, d.examples[1].labels!)).toEqual(['Hello.<|im_end|>\n']);
  });

  test('truncation to maxLength as the causal-LM task does; an example left with no trained token is dropped and counted', () => {
    const full = tokenizeConversation(llama3, llama3.chatTemplate()!, CONVERSATION);
    const cut = full.labels.findIndex((l) => l !== IGNORE_INDEX) + 3;  // into the first assistant turn
    expect(cut).toBeLessThan(full.inputIds.length);
    const d = sftDataset([{ messages: CONVERSATION }], llama3, { maxLength: cut });
    expect(d.examples[0].inputIds).toEqual(full.inputIds.slice(0, cut));
    expect(d.examples[0].labels).toEqual(full.labels.slice(0, cut));
    expect(trainedRuns(llama3, d.examples[0].inputIds, d.examples[0].labels!)).toEqual([llama3.decode(full.inputIds.slice(cut - 3, cut), { keepSpecial: true })]);
    const tiny = sftDataset([{ messages: CONVERSATION }], llama3, { maxLength: cut - 3 });
    expect(tiny).toMatchObject({ examples: [], truncatedAway: 1 });
  });

  test('the Trainer trains on SFT examples (a dataset option: examples carrying labels) with a finite loss', () => {
    manualSeed(5);
    const model = new LlamaForCausalLM(new LlamaConfig({ vocabSize: qwen2.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 128 }));
    const d = sftDataset(Array.from({ length: 4 }, (_, i) => ({ messages: [{ role: 'user', content: `Count to ${i}` }, { role: 'assistant', content: `${i} ${i + 1}` }] })), qwen2, { maxLength: 128 });
    const r = new Trainer(model, { trainDataset: d.examples, tokenizer: qwen2, batchSize: 2, maxSteps: 2, lr: 1e-2, progress: false }).train();
    expect(r.stepLosses).toHaveLength(2);
    for (const { loss } of r.stepLosses) expect(Number.isFinite(loss)).toBe(true);
    model.dispose();
  });
});

describe('SFT: bad rows name the line and the field', () => {
  const load = (rows: unknown[], tok: Tokenizer = qwen2) => () => loadSftDataset(writeJsonl('bad.jsonl', rows), tok, { maxLength: 64 });
  const ok = { messages: CONVERSATION.slice(1, 3) };

  test('a row without messages', () => {
    expect(load([ok, { text: 'hello' }])).toThrow(/bad\.jsonl:2: messages: is missing \(an SFT row holds "messages", or "prompt" and "completion"; the row has "text"\)/);
    expect(load([{ messages: [] }])).toThrow('bad.jsonl:1: messages: must be a non-empty list of {"role", "content"}, got []');
    expect(load([ok, ok, { messages: [{ role: 'user', content: 3 }] }])).toThrow('bad.jsonl:3: messages[0].content: must be a string, got 3');
    expect(load([{ messages: [{ content: 'x' }] }])).toThrow('bad.jsonl:1: messages[0].role: is missing');
    expect(load([{ messages: [{ role: 'user', content: 'x' }] }])).toThrow('bad.jsonl:1: messages: has no "assistant" message to train on');
    expect(load([{ prompt: 'x' }])).toThrow('bad.jsonl:1: completion: is missing');
    expect(load(['{"messages": ['])).toThrow(/bad\.jsonl:1: not valid JSON/);
  });

  test('a role not in the template', () => {
    expect(load([ok, { messages: [{ role: 'narrator', content: 'Once' }, { role: 'assistant', content: 'upon' }] }]))
      .toThrow('bad.jsonl:2: messages[0].role: "narrator" is not a role of the chat template (system, user, assistant, tool, or one the template names)');
  });

  test('a template that raises', () => {
    const json = JSON.parse(fs.readFileSync(path.join(CHAT, 'qwen2', 'tokenizer.json'), 'utf8')) as object;
    const mixtral = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
    const tok = new HfTokenizer(json, { bos_token: '<|im_start|>', eos_token: '<|im_end|>', chat_template: mixtral });
    expect(load([ok], tok)().examples).toHaveLength(1);
    expect(load([ok, { messages: CONVERSATION }], tok)).toThrow('bad.jsonl:2: messages: the chat template raised: Conversation roles must alternate user/assistant/user/assistant/...');
    // A tokenizer without a template cannot read conversations (prompt-completion strings need none).
    const plain = loadTokenizer(path.resolve(__dirname, '../fixtures/io/tokenizers/gpt2'));
    expect(load([ok], plain)).toThrow('bad.jsonl:1: messages: conversations need a chat template, and the tokenizer has none');
    expect(load([{ prompt: 'a b', completion: ' c' }], plain)().examples).toHaveLength(1);
    // badRows: 'skip' leaves bad rows out and lists them.
    const skipped = loadSftDataset(writeJsonl('skip.jsonl', [{ text: 'x' }, ok]), qwen2, { maxLength: 64, badRows: 'skip' });
    expect(skipped.examples).toHaveLength(1);
    expect(skipped.skipped).toEqual([{ file: path.join(dir, 'skip.jsonl'), line: 1, problem: expect.stringContaining('messages: is missing') }]);
  });
});
