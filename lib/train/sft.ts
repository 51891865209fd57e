/**
 * Supervised fine-tuning data (HF TRL's SFTTrainer formats) to examples whose loss falls on the completion
 * only: token labels that are -100 everywhere else, which the Trainer's collate keeps.
 *
 * - Conversational rows, `{"messages": [{"role", "content"}, ...]}`: rendered with the tokenizer's chat
 *   template; the loss is on the assistant turns (TRL's assistant_only_loss). Each assistant turn is found
 *   by rendering the conversation prefix by prefix, so any template works: the turn's text is what
 *   render(messages[:i+1]) adds to render(messages[:i], add_generation_prompt=True), i.e. its content and
 *   the end-of-turn marker the template writes, not the role header that a prompt ends with (when a
 *   template's generation prompt is not a prefix of the rendered turn, the prefix without it is used, and
 *   the header trains too). Character spans become token spans by encoding the text up to each boundary
 *   (the ids the prefix and the whole share), as TRL tokenizes prompt and prompt + completion.
 * - Prompt-completion rows, `{"prompt", "completion"}`: two strings are TRL's "standard" format, joined
 *   without a template (the prompt encoded as the tokenizer encodes a text, BOS included where it adds one;
 *   the completion and EOS after it are trained); two lists of messages are the conversational form,
 *   rendered as above with every completion token trained (TRL's completion_only_loss).
 * Examples longer than maxLength are truncated, as the causal-LM task truncates; one left with no
 * trained token after truncation is dropped (counted in `truncatedAway`).
 */
import * as fs from 'fs';
import { ChatTemplateError, STANDARD_ROLES, type ChatMessage, type ChatTemplate } from '../io/chat_template';
import type { Tokenizer } from '../io/tokenizer';
import { IGNORE_INDEX } from '../ops/cross_entropy/op';
import { BadRows, type BadRowPolicy, type SkippedRow } from './data/data_error';
import type { TokenizedExample } from './data/tokenize';

export interface SftOptions {
  /** Keep at most this many tokens per example. */
  maxLength: number;
  /** The field holding the conversation. Default 'messages'. */
  messagesField?: string;
  /** The template to use when tokenizer_config.json lists several (default: "default"). */
  templateName?: string;
  /** What a bad row does. Default 'error'. */
  badRows?: BadRowPolicy;
}

export interface SftDataset {
  examples: TokenizedExample[];
  skipped: SkippedRow[];
  /** Examples dropped because truncation left no trained token. */
  truncatedAway: number;
}

/** A problem with one row: the field it is in and what is wrong. */
export class SftRowError extends Error {
  constructor(readonly field: string, readonly problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'SftRowError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a list of messages field by field, naming the bad one (`messages[2].role`). */
export function checkConversation(value: unknown, field: string, template: ChatTemplate | null): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new SftRowError(field, `must be a non-empty list of {"role", "content"}, got ${JSON.stringify(value)?.slice(0, 80) ?? 'nothing'}`);
  value.forEach((m, i) => {
    const at = `${field}[${i}]`;
    if (!isObject(m)) throw new SftRowError(at, `must be an object {"role", "content"}, got ${JSON.stringify(m)?.slice(0, 80)}`);
    if (!('role' in m)) throw new SftRowError(`${at}.role`, 'is missing');
    if (typeof m.role !== 'string') throw new SftRowError(`${at}.role`, `must be a string, got ${JSON.stringify(m.role)}`);
    if (!('content' in m)) throw new SftRowError(`${at}.content`, 'is missing');
    if (typeof m.content !== 'string') throw new SftRowError(`${at}.content`, `must be a string, got ${JSON.stringify(m.content)?.slice(0, 80)}`);
    if (template !== null && !template.roles.has(m.role))
      throw new SftRowError(`${at}.role`, `${JSON.stringify(m.role)} is not a role of the chat template (${STANDARD_ROLES.join(', ')}, or one the template names)`);
  });
  return value as ChatMessage[];
}

/** The ids of `text` and, for each character boundary, the token index where it falls (ids shared by prefix and whole). */
function tokenBoundaries(tokenizer: Tokenizer, text: string, boundaries: number[], encodeOpts: { bos?: boolean; eos?: boolean }): { ids: number[]; at: number[] } {
  const ids = tokenizer.encode(text, encodeOpts);
  const at = boundaries.map((b) => {
    if (b >= text.length) return ids.length;
    const p = b === 0 ? ids.slice(0, encodeOpts.bos ? 1 : 0) : tokenizer.encode(text.slice(0, b), encodeOpts);
    let k = 0;
    while (k < p.length && k < ids.length && p[k] === ids[k]) k++;
    return k;
  });
  return { ids, at };
}

function render(template: ChatTemplate, messages: ChatMessage[], addGenerationPrompt: boolean, field: string): string {
  try {
    return template.render(messages, { addGenerationPrompt });
  } catch (e) {
    if (e instanceof ChatTemplateError) throw new SftRowError(field, `the chat template raised: ${e.problem}`);
    throw e;
  }
}

/**
 * One conversation to ids and labels: the trained spans are the assistant turns (`trainFrom` = 0), or every
 * message from index trainFrom on (a conversational prompt-completion row). Exported for tests and callers
 * that hold conversations in memory.
 */
export function tokenizeConversation(tokenizer: Tokenizer, template: ChatTemplate, messages: ChatMessage[], opts: { maxLength?: number; trainFrom?: number; field?: string } = {}):
  { inputIds: number[]; labels: number[]; text: string; spans: [number, number][] } {
  const field = opts.field ?? 'messages';
  const full = render(template, messages, false, field);
  const spans: [number, number][] = [];
  const trained = (i: number) => (opts.trainFrom !== undefined && opts.trainFrom > 0 ? i >= opts.trainFrom : messages[i].role === 'assistant');
  for (let i = 0; i < messages.length; i++) {
    if (!trained(i)) continue;
    const upTo = i + 1 === messages.length ? full : render(template, messages.slice(0, i + 1), false, field);
    if (!full.startsWith(upTo))
      throw new SftRowError(`${field}[${i}]`, 'the chat template renders the conversation up to this message differently from the same messages inside the whole conversation; its tokens cannot be told apart');
    let start = -1;
    if (i > 0) {
      const withPrompt = render(template, messages.slice(0, i), true, field);
      const plain = render(template, messages.slice(0, i), false, field);
      start = upTo.startsWith(withPrompt) ? withPrompt.length : upTo.startsWith(plain) ? plain.length : -1;
    } else start = 0;  // a conversation that opens with the assistant: its header trains too
    if (start < 0)
      throw new SftRowError(`${field}[${i}]`, 'the chat template does not render the messages before this one as a prefix of the conversation up to it; its tokens cannot be told apart');
    // Adjacent trained messages (a prompt-completion row's completion) make one span.
    const last = spans[spans.length - 1];
    if (last && last[1] === start) last[1] = upTo.length;
    else if (upTo.length > start) spans.push([start, upTo.length]);
  }
  if (spans.length === 0)
    throw new SftRowError(field, opts.trainFrom ? 'the completion renders to no text' : 'has no "assistant" message to train on');
  const { ids, at } = tokenBoundaries(tokenizer, full, spans.flat(), { bos: false, eos: false });
  const labels = new Array<number>(ids.length).fill(IGNORE_INDEX);
  for (let s = 0; s < spans.length; s++) for (let t = at[2 * s]; t < at[2 * s + 1]; t++) labels[t] = ids[t];
  const n = opts.maxLength ?? ids.length;
  return { inputIds: ids.slice(0, n), labels: labels.slice(0, n), text: full, spans };
}

/** A standard prompt-completion pair: prompt as the tokenizer encodes a text (BOS where it adds one), completion + EOS trained. */
export function tokenizePromptCompletion(tokenizer: Tokenizer, prompt: string, completion: string, maxLength?: number): { inputIds: number[]; labels: number[] } {
  const text = prompt + completion;
  const bos = tokenizer.bosId !== null && tokenizer.encode('a').length > tokenizer.encode('a', { bos: false }).length;
  const { ids, at } = tokenBoundaries(tokenizer, text, [prompt.length], { bos, eos: false });
  if (tokenizer.eosId !== null) ids.push(tokenizer.eosId);
  const labels = ids.map((id, t) => (t >= at[0] ? id : IGNORE_INDEX));
  const n = maxLength ?? ids.length;
  return { inputIds: ids.slice(0, n), labels: labels.slice(0, n) };
}

/** One parsed row to an example (or an SftRowError naming the field). */
export function sftExample(row: unknown, tokenizer: Tokenizer, opts: SftOptions): { inputIds: number[]; labels: number[] } {
  const messagesField = opts.messagesField ?? 'messages';
  if (!isObject(row)) throw new SftRowError('row', `expected a JSON object, got ${Array.isArray(row) ? 'an array' : JSON.stringify(row)?.slice(0, 80)}`);
  const template = (): ChatTemplate => {
    const t = tokenizer.chatTemplate?.(opts.templateName) ?? null;
    if (t === null) throw new SftRowError(messagesField, 'conversations need a chat template, and the tokenizer has none (no "chat_template" in its tokenizer_config.json)');
    return t;
  };
  if (messagesField in row) {
    const t = template();
    const messages = checkConversation(row[messagesField], messagesField, t);
    return tokenizeConversation(tokenizer, t, messages, { maxLength: opts.maxLength, field: messagesField });
  }
  if ('prompt' in row || 'completion' in row) {
    if (!('prompt' in row)) throw new SftRowError('prompt', 'is missing (a row with "completion" needs a "prompt")');
    if (!('completion' in row)) throw new SftRowError('completion', 'is missing (a row with "prompt" needs a "completion")');
    const { prompt, completion } = row;
    if (typeof prompt === 'string' && typeof completion === 'string') return tokenizePromptCompletion(tokenizer, prompt, completion, opts.maxLength);
    if (Array.isArray(prompt) && Array.isArray(completion)) {
      const t = template();
      const p = checkConversation(prompt, 'prompt', t);
      const c = checkConversation(completion, 'completion', t);
      return tokenizeConversation(tokenizer, t, [...p, ...c], { maxLength: opts.maxLength, trainFrom: p.length, field: 'completion' });
    }
    throw new SftRowError('prompt', `"prompt" and "completion" must both be strings or both be lists of messages, got ${typeof prompt === 'string' ? 'a string' : JSON.stringify(prompt)?.slice(0, 40)} and ${typeof completion === 'string' ? 'a string' : JSON.stringify(completion)?.slice(0, 40)}`);
  }
  throw new SftRowError(messagesField, `is missing (an SFT row holds ${JSON.stringify(messagesField)}, or "prompt" and "completion"; the row has ${Object.keys(row).map((k) => JSON.stringify(k)).join(', ') || 'no fields'})`);
}

/** Rows already in memory (e.g. parsed JSON); `file` names them in errors, row i as line lines?.[i] ?? i + 1. */
export function sftDataset(rows: readonly unknown[], tokenizer: Tokenizer, opts: SftOptions & { file?: string; lines?: number[] }): SftDataset {
  if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1) throw new RangeError(`sft: maxLength must be a positive integer, got ${String(opts.maxLength)}`);
  const file = opts.file ?? '<rows>';
  const bad = new BadRows(file, opts.badRows ?? 'error');
  const examples: TokenizedExample[] = [];
  let truncatedAway = 0;
  rows.forEach((row, i) => {
    const line = opts.lines?.[i] ?? i + 1;
    let ex: { inputIds: number[]; labels: number[] };
    try {
      ex = sftExample(row, tokenizer, opts);
    } catch (e) {
      if (e instanceof SftRowError) return bad.report(line, e.message);
      throw e;
    }
    if (!ex.labels.some((l, t) => t >= 1 && l !== IGNORE_INDEX)) {
      truncatedAway++;
      return;
    }
    examples.push({ inputIds: ex.inputIds, labels: ex.labels, line });
  });
  return { examples, skipped: bad.skipped, truncatedAway };
}

/** A JSONL file of SFT rows (one JSON object a line; blank lines skipped). Errors name file:line and the field. */
export function loadSftDataset(file: string, tokenizer: Tokenizer, opts: SftOptions): SftDataset {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`reading ${file}: ${(e as Error).message}`);
  }
  if (!/\.(jsonl|ndjson|json)$/i.test(file) && text.trimStart()[0] !== '{')
    throw new Error(`reading ${file}: SFT data is JSONL (one {"messages": [...]} or {"prompt", "completion"} object a line)`);
  const bad = new BadRows(file, opts.badRows ?? 'error');
  const rows: unknown[] = [], lines: number[] = [];
  text.split('\n').forEach((raw, k) => {
    const src = (k === 0 ? raw.replace(/^\ufeff/, '') : raw).replace(/\r$/, '');
    if (src.trim() === '') return;
    try {
      rows.push(JSON.parse(src));
      lines.push(k + 1);
    } catch (e) {
      bad.report(k + 1, `not valid JSON (${(e as Error).message})`);
    }
  });
  const out = sftDataset(rows, tokenizer, { ...opts, file, lines });
  return { ...out, skipped: [...bad.skipped, ...out.skipped].sort((a, b) => a.line - b.line) };
}
