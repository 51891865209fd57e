/**
 * Chat templates (lib/io/chat_template.ts, HfTokenizer.applyChatTemplate) on two real templates copied into
 * test/fixtures/chat (Qwen2-Instruct's ChatML and Meta-Llama-3-Instruct's; sources in
 * make_chat_fixtures.py): the rendered text of a conversation equals a hand-written string, with and without
 * a system message and a generation prompt; tokenize gives the text's ids without an added BOS; a list of
 * named templates; raise_exception, a parse error and a missing template are errors naming the source.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ChatTemplate, ChatTemplateError, HfTokenizer, loadTokenizer, selectChatTemplate, type ChatMessage } from '../../lib/io';

const CHAT = path.resolve(__dirname, '../fixtures/chat');
const qwen2 = loadTokenizer(path.join(CHAT, 'qwen2')) as HfTokenizer;
const llama3 = loadTokenizer(path.join(CHAT, 'llama3')) as HfTokenizer;
const gpt2Json = JSON.parse(fs.readFileSync(path.join(CHAT, 'qwen2', 'tokenizer.json'), 'utf8')) as object;

/** Three turns after a system message. */
const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi!' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4' },
  { role: 'user', content: 'Thanks' },
  { role: 'assistant', content: 'Bye!' },
];

const QWEN2_TEXT =
  '<|im_start|>system\nYou are terse.<|im_end|>\n' +
  '<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n' +
  '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n' +
  '<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\nBye!<|im_end|>\n';

const LLAMA3_TEXT =
  '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
  '<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>' +
  '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>' +
  '<|start_header_id|>user<|end_header_id|>\n\nThanks<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nBye!<|eot_id|>';

describe('chat templates: the real Qwen2 (ChatML) and Llama 3 templates', () => {
  test('a three-turn conversation renders to the hand-written text', () => {
    expect(qwen2.applyChatTemplate(CONVERSATION, { tokenize: false })).toBe(QWEN2_TEXT);
    expect(llama3.applyChatTemplate(CONVERSATION, { tokenize: false })).toBe(LLAMA3_TEXT);
  });

  test('add_generation_prompt appends the assistant header; Qwen2 adds its default system message when there is none', () => {
    const ask: ChatMessage[] = [{ role: 'user', content: 'Hi!' }];
    expect(qwen2.applyChatTemplate(ask, { tokenize: false, addGenerationPrompt: true }))
      .toBe('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n');
    expect(llama3.applyChatTemplate(ask, { tokenize: false, addGenerationPrompt: true }))
      .toBe('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    // Llama 3's template trims the content, as HF's does.
    expect(llama3.applyChatTemplate([{ role: 'user', content: '  Hi!\n' }], { tokenize: false })).toBe('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>');
  });

  test('tokenize (the default) gives the rendered text\'s ids, special tokens as single ids and no BOS added twice', () => {
    for (const tok of [qwen2, llama3]) {
      const text = tok.applyChatTemplate(CONVERSATION, { tokenize: false });
      const ids = tok.applyChatTemplate(CONVERSATION);
      expect(ids).toEqual(tok.encode(text, { bos: false, eos: false }));
      expect(tok.decode(ids, { keepSpecial: true })).toBe(text);
    }
    const ids = llama3.applyChatTemplate(CONVERSATION);
    expect(ids[0]).toBe(llama3.bosId);
    expect(ids.filter((id) => id === llama3.bosId)).toHaveLength(1);
    expect(ids.filter((id) => id === llama3.eosId)).toHaveLength(CONVERSATION.length);  // <|eot_id|> ends every turn
    expect(qwen2.eosId).toBe(qwen2.lookup('<|im_end|>'));
  });

  test('special tokens reach the template as variables (bos_token, eos_token, additional_special_tokens)', () => {
    const t = new HfTokenizer(gpt2Json, {
      bos_token: { content: '<|im_start|>' }, eos_token: '<|im_end|>', additional_special_tokens: ['<|im_start|>'],
      chat_template: '{{ bos_token }}|{{ eos_token }}|{{ additional_special_tokens[0] }}|{{ messages | length }}|{{ add_generation_prompt }}',
    });
    expect(t.applyChatTemplate([{ role: 'user', content: 'x' }], { tokenize: false, addGenerationPrompt: true })).toBe('<|im_start|>|<|im_end|>|<|im_start|>|1|true');
  });

  test('a list of named templates: "default" unless another is named; an unknown name lists the known ones', () => {
    const config = { chat_template: [{ name: 'default', template: 'D{{ messages[0].content }}' }, { name: 'tool_use', template: 'T{{ messages[0].content }}' }] };
    const t = new HfTokenizer(gpt2Json, config, 'x/tokenizer.json', 'x/tokenizer_config.json');
    const m: ChatMessage[] = [{ role: 'user', content: 'hi' }];
    expect(t.applyChatTemplate(m, { tokenize: false })).toBe('Dhi');
    expect(t.applyChatTemplate(m, { tokenize: false, templateName: 'tool_use' })).toBe('Thi');
    expect(() => t.applyChatTemplate(m, { tokenize: false, templateName: 'rag' })).toThrow('chat template of x/tokenizer_config.json: no chat template named "rag" (the tokenizer has "default", "tool_use")');
    expect(() => selectChatTemplate([{ name: 1 }], 'cfg')).toThrow('chat template of cfg: "chat_template"[0] must be {"name": string, "template": string}');
    expect(() => selectChatTemplate(42, 'cfg')).toThrow('"chat_template" must be a string or a list of {"name", "template"}, got 42');
  });

  test('raise_exception in a template is a ChatTemplateError with its message', () => {
    // Mixtral-8x7B-Instruct's template (huggingface.js packages/jinja/test/e2e.test.js).
    const mixtral = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
    const t = new ChatTemplate(mixtral, { bos_token: '<s>', eos_token: '</s>' }, 'mixtral/tokenizer_config.json');
    expect(t.render([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }])).toBe('<s>[INST] a [/INST]b</s>');
    expect(() => t.render([{ role: 'assistant', content: 'b' }])).toThrow(new ChatTemplateError('mixtral/tokenizer_config.json', 'Conversation roles must alternate user/assistant/user/assistant/...'));
  });

  test('a template that does not parse, and a tokenizer without a template, are errors naming the file', () => {
    expect(() => new ChatTemplate('{% for m in messages %}', {}, 'bad/tokenizer_config.json')).toThrow(/^chat template of bad\/tokenizer_config.json: cannot be parsed: /);
    const plain = loadTokenizer(path.resolve(__dirname, '../fixtures/io/tokenizers/gpt2')) as HfTokenizer;
    expect(plain.chatTemplate()).toBeNull();
    expect(() => plain.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(/has no chat template \(no "chat_template" in .*tokenizer_config.json and no chat_template.jinja beside it\)/);
    expect(() => qwen2.applyChatTemplate([{ role: 'user' } as unknown as ChatMessage])).toThrow('messages[0].content must be a string, got undefined');
  });
});
