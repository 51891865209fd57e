/**
 * `peftjs train --task sft` and `peftjs generate --chat` on a tiny Llama whose folder carries the Qwen2-style
 * fixture tokenizer and its ChatML template (test/fixtures/chat/qwen2): two LoRA steps on a 4-row JSONL of
 * conversations write an adapter and log finite losses; the adapter generates through the chat template; bad
 * rows, a role the template does not know and a tokenizer without a template end with one line naming the
 * file, line and field.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LlamaConfig, LlamaForCausalLM, manualSeed } from '../../lib';
import { loadTokenizer } from '../../lib/io';
import { saveModelFolder } from '../../lib/nn/models/save_pretrained';

const MAIN = path.join(__dirname, '..', '..', 'dist', 'lib', 'cli', 'main.js');
const haveDist = fs.existsSync(MAIN);
if (!haveDist) console.warn(`sft CLI spec skipped: ${MAIN} is missing (run npm run build first)`);
const maybe = haveDist ? it : it.skip;
const CHAT = path.resolve(__dirname, '../fixtures/chat');

describe('peftjs train --task sft, peftjs generate --chat', () => {
  jest.setTimeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-sft-cli-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const base = path.join(dir, 'base');
  const data = path.join(dir, 'chat.jsonl');
  const conversation = (i: number) => ({ messages: [{ role: 'user', content: `Count from ${i}.` }, { role: 'assistant', content: `${i}, ${i + 1}, ${i + 2}.` }] });
  beforeAll(() => {
    const tok = loadTokenizer(path.join(CHAT, 'qwen2'));
    manualSeed(11);
    const config = new LlamaConfig({ vocabSize: tok.vocabSize, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 128, eosTokenId: tok.eosId ?? undefined });
    saveModelFolder(new LlamaForCausalLM(config), base);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(CHAT, 'qwen2', f), path.join(base, f));
    fs.writeFileSync(data, [0, 1, 2, 3].map((i) => JSON.stringify(conversation(i))).join('\n') + '\n');
  });

  const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, PEFTJS_DEBUG: '' } });
  const train = (file: string, out: string, extra: string[] = []) =>
    run(['train', '--model', base, '--method', 'lora', '--r', '4', '--task', 'sft', '--data', file, '--out', out, '--max-steps', '2', '--batch-size', '2', '--lr', '0.01', ...extra]);

  maybe('two LoRA steps on a 4-row JSONL of conversations write an adapter and log a finite loss; --chat generates with it', () => {
    const out = path.join(dir, 'adapter');
    const r = train(data, out);
    expect(r.stderr).not.toMatch(/error|bug/i);
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(result).toMatchObject({ steps: 2, method: 'lora' });
    expect(Number.isFinite(result.firstLoss) && Number.isFinite(result.lastLoss)).toBe(true);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'log.jsonl']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM' });
    const logged = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => 'loss' in e);
    expect(logged.map((e) => e.step)).toEqual([1, 2]);
    for (const e of logged) expect(Number.isFinite(e.loss)).toBe(true);

    const g = run(['generate', '--model', base, '--adapter', out, '--chat', '--system', 'Be brief.', '--prompt', 'Count from 4.', '--max-tokens', '6']);
    expect(g.stderr).toBe('');
    expect(g.status).toBe(0);
    expect(g.stdout.endsWith('\n')).toBe(true);
    expect(g.stdout).not.toContain('Count from 4.');  // --chat prints the reply only
  });

  maybe('bad rows, an unknown role, a template that raises and a tokenizer without a template: one line naming file, line and field', () => {
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(bad, [JSON.stringify(conversation(0)), JSON.stringify(conversation(1)), JSON.stringify({ text: 'no messages here' })].join('\n') + '\n');
    let r = train(bad, path.join(dir, 'out-bad'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`peftjs train: --data ${bad}: ${bad}:3: messages: is missing (an SFT row holds "messages", or "prompt" and "completion"; the row has "text")\n`);
    expect(fs.existsSync(path.join(dir, 'out-bad'))).toBe(false);

    fs.writeFileSync(bad, JSON.stringify({ messages: [{ role: 'narrator', content: 'Once' }, { role: 'assistant', content: 'upon' }] }) + '\n');
    r = train(bad, path.join(dir, 'out-bad'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${bad}:1: messages[0].role: "narrator" is not a role of the chat template`);

    // A tokenizer folder whose template raises for a system message.
    const raising = path.join(dir, 'raising');
    fs.mkdirSync(raising);
    fs.copyFileSync(path.join(CHAT, 'qwen2', 'tokenizer.json'), path.join(raising, 'tokenizer.json'));
    fs.writeFileSync(path.join(raising, 'tokenizer_config.json'), JSON.stringify({
      eos_token: '<|im_end|>',
      chat_template: "{% for message in messages %}{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ message['content'] }}{% endfor %}",
    }));
    fs.writeFileSync(bad, JSON.stringify(conversation(0)) + '\n' + JSON.stringify({ messages: [{ role: 'system', content: 's' }, ...conversation(1).messages] }) + '\n');
    r = train(bad, path.join(dir, 'out-bad'), ['--tokenizer', raising]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${bad}:2: messages: the chat template raised: System role not supported`);

    const g = run(['generate', '--model', base, '--tokenizer', path.resolve(__dirname, '../fixtures/io/tokenizers/gpt2'), '--chat', '--prompt', 'Hi', '--max-tokens', '2']);
    expect(g.status).toBe(1);
    expect(g.stderr).toBe('peftjs generate: --chat needs a tokenizer with a chat template (a "chat_template" in tokenizer_config.json); this one has none\n');
  });
});
