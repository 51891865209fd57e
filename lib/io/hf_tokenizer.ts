/**
 * Hugging Face tokenizer.json through @huggingface/tokenizers (tokenizers.js: pure JavaScript, no
 * native code, no dependencies), which implements the normalizers, pre-tokenizers, models (BPE,
 * WordPiece, Unigram), post-processors and decoders of the Rust library. The package is loaded on first
 * use, so the rest of peftjs works without it. Its ids agree with an independent Python transcription
 * of byte-level (GPT-2) and sentencepiece-style (Llama) BPE on the fixtures in test/fixtures/io.
 *
 * Special tokens come from tokenizer_config.json beside tokenizer.json (bos_token, eos_token,
 * pad_token); without it, BOS/EOS are what the post-processor adds around a text, if anything.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError } from './errors';
import { readJsonFile } from './hf_json';
import type { Tokenizer, TokenizerEncodeOptions } from './tokenizer';
import { ChatTemplate, chatTemplateFromConfig, type ChatMessage, type ChatTemplateOptions } from './chat_template';

const FORMAT = 'HF tokenizer';
const PACKAGE = '@huggingface/tokenizers';

/** The part of tokenizers.js used here (typed locally so that compiling does not need the package). */
interface JsTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
  token_to_id(token: string): number | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
  get_added_tokens_decoder(): Map<number, { content: string; special: boolean }>;
}
type JsTokenizerCtor = new (tokenizerJson: object, config: object) => JsTokenizer;

let ctor: JsTokenizerCtor | null = null;

function tokenizersJs(): JsTokenizerCtor {
  if (ctor !== null) return ctor;
  let mod: { Tokenizer?: JsTokenizerCtor };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(PACKAGE);
  } catch (e) {
    throw new Error(`HfTokenizer: reading tokenizer.json needs the package ${PACKAGE} (npm install ${PACKAGE}@^0.2.0): ${(e as Error).message}`);
  }
  if (typeof mod.Tokenizer !== 'function') throw new Error(`HfTokenizer: ${PACKAGE} has no Tokenizer class (expected version ^0.2.0)`);
  ctor = mod.Tokenizer;
  return ctor;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A special token in tokenizer_config.json: a string, or an AddedToken object {"content": ...}, or null. */
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return null;
}

/** The models tokenizers.js implements. */
const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram'];

/**
 * What tokenizers.js would accept and then get wrong. It guesses a model from the fields when "type" is
 * not one it knows ("Foo" became a BPE): an unknown type is refused (a missing one is left to the
 * guess, which is how the Rust library reads files written before the field existed). An empty
 * vocabulary builds, and then every text encodes to no ids at all.
 */
function checkModel(model: Record<string, unknown>, fail: (problem: string) => never): void {
  const { type, vocab } = model;
  if (type !== undefined && !MODEL_TYPES.includes(type as string))
    fail(`model "type" must be one of ${MODEL_TYPES.map((t) => JSON.stringify(t)).join(', ')}, got ${JSON.stringify(type)}`);
  // Unigram's vocab is a list of [piece, score]; the others' an object of piece -> id. A missing type: either.
  const listed = type === 'Unigram' || (type === undefined && Array.isArray(vocab));
  const size = listed && Array.isArray(vocab) ? vocab.length : !listed && isObject(vocab) ? Object.keys(vocab).length : -1;
  if (size < 0) fail(`model "vocab" must be ${listed ? 'a list of [piece, score] (Unigram)' : 'an object of piece -> id'}, got ${JSON.stringify(vocab)?.slice(0, 80) ?? 'nothing'}`);
  if (size === 0) fail('model "vocab" is empty: it would encode every text to no ids');
}

function build(tokenizerJson: object, config: object, fail: (problem: string) => never): JsTokenizer {
  const Ctor = tokenizersJs();
  try {
    return new Ctor(tokenizerJson, config);
  } catch (e) {
    return fail(`cannot be built: ${(e as Error).message}`);
  }
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  /** What encode does without options: the tokenizer's own default (its post-processor or add_bos_token). */
  readonly addsBos: boolean;
  readonly addsEos: boolean;
  private readonly inner: JsTokenizer;
  private readonly specialIds: Set<number>;
  private readonly config: Record<string, unknown>;
  private readonly configSource: string;
  private chatTemplateText: string | null = null;
  private chatTemplates = new Map<string, ChatTemplate | null>();

  /** From the parsed tokenizer.json and tokenizer_config.json ({} when there is none). */
  constructor(tokenizerJson: object, config: Record<string, unknown> = {}, source = '<object>', configSource = '<config object>') {
    const fail = (problem: string): never => {
      throw new FileFormatError(FORMAT, source, problem);
    };
    if (!isObject(tokenizerJson)) fail('must hold a JSON object');
    const model = (tokenizerJson as Record<string, unknown>).model;
    if (!isObject(model)) fail('has no "model" object');
    checkModel(model as Record<string, unknown>, fail);
    this.inner = build(tokenizerJson, config, fail);
    this.config = config;
    this.configSource = configSource;
    let maxId = -1;
    for (const id of this.inner.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    this.specialIds = new Set([...this.inner.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id));
    const idOf = (key: string): number | null => {
      const text = tokenText(config[key]);
      if (text === null) return null;
      const id = this.inner.token_to_id(text);
      if (id === undefined) throw new FileFormatError('HF tokenizer config', configSource, `${key} ${JSON.stringify(text)} is not in the vocabulary of ${source}`);
      return id ?? null;
    };
    // Without a config, BOS/EOS are what the post-processor wraps a text in (Llama's template adds <s>).
    const plain = this.inner.encode('a', { add_special_tokens: false }).ids;
    const wrapped = this.inner.encode('a', { add_special_tokens: true }).ids;
    const prefix = wrapped.length > plain.length && this.specialIds.has(wrapped[0]) ? wrapped[0] : null;
    const suffix = wrapped.length > plain.length && this.specialIds.has(wrapped[wrapped.length - 1]) ? wrapped[wrapped.length - 1] : null;
    this.bosId = idOf('bos_token') ?? prefix;
    this.eosId = idOf('eos_token') ?? suffix;
    this.padId = idOf('pad_token');
    this.addsBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : prefix !== null && prefix === this.bosId;
    this.addsEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : suffix !== null && suffix === this.eosId;
  }

  /** Reads tokenizer.json, and tokenizer_config.json from the same folder when it is there. */
  static load(file: string): HfTokenizer {
    const json = readJsonFile(file, FORMAT);
    const configFile = path.join(path.dirname(file), 'tokenizer_config.json');
    let config: Record<string, unknown> = {};
    if (fs.existsSync(configFile)) {
      const parsed = readJsonFile(configFile, 'HF tokenizer config');
      if (!isObject(parsed)) throw new FileFormatError('HF tokenizer config', configFile, 'must hold a JSON object');
      config = parsed;
    }
    const tok = new HfTokenizer(json as object, config, file, configFile);
    // transformers >= 4.50 saves the template as chat_template.jinja beside the tokenizer.
    const jinjaFile = path.join(path.dirname(file), 'chat_template.jinja');
    if (config.chat_template === undefined && fs.existsSync(jinjaFile)) tok.chatTemplateText = fs.readFileSync(jinjaFile, 'utf8');
    return tok;
  }

  /**
   * The chat template (tokenizer_config.json's chat_template, the entry `name` of a list of them, or
   * chat_template.jinja), parsed once; null when the tokenizer has none.
   */
  chatTemplate(name?: string): ChatTemplate | null {
    const key = name ?? '';
    if (!this.chatTemplates.has(key))
      this.chatTemplates.set(key, chatTemplateFromConfig(this.config, this.chatTemplateText !== null && this.config.chat_template === undefined
        ? path.join(path.dirname(this.configSource), 'chat_template.jinja') : this.configSource, { name, jinjaText: this.chatTemplateText }));
    return this.chatTemplates.get(key)!;
  }

  /**
   * HF's apply_chat_template: the conversation rendered with the chat template (special tokens and
   * add_generation_prompt as HF passes them), then, unless tokenize is false, its ids (encoded without
   * adding BOS/EOS: the template writes them, as HF encodes with add_special_tokens=False).
   */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions & { tokenize: false; templateName?: string }): string;
  applyChatTemplate(messages: readonly ChatMessage[], opts?: ChatTemplateOptions & { tokenize?: true; templateName?: string }): number[];
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions & { tokenize?: boolean; templateName?: string } = {}): string | number[] {
    const template = this.chatTemplate(opts.templateName);
    if (template === null)
      throw new Error(`HfTokenizer.applyChatTemplate: the tokenizer has no chat template (no "chat_template" in ${this.configSource} and no chat_template.jinja beside it)`);
    const text = template.render(messages, opts);
    return opts.tokenize === false ? text : this.encode(text, { bos: false, eos: false });
  }

  /**
   * The ids of text: special tokens written in the text (e.g. "</s>") become their ids; BOS/EOS are
   * added as opts say (default: as the tokenizer does by default, see addsBos/addsEos).
   */
  encode(text: string, opts: TokenizerEncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`HfTokenizer.encode: expected a string, got ${typeof text}`);
    const ids = text.length === 0 ? [] : this.inner.encode(text, { add_special_tokens: false }).ids;
    if (opts.bos ?? this.addsBos) ids.unshift(this.special('bos', this.bosId));
    if (opts.eos ?? this.addsEos) ids.push(this.special('eos', this.eosId));
    return ids;
  }

  /**
   * The text of ids, special tokens skipped unless keepSpecial. Spaces are left as the decoder makes
   * them (no clean_up_tokenization_spaces, which would turn "a ." into "a." and break round trips).
   */
  decode(ids: readonly number[], opts: { keepSpecial?: boolean } = {}): string {
    this.checkIds(ids, 'decode');
    if (ids.length === 0) return '';  // tokenizers.js refuses an empty list
    return this.inner.decode([...ids], { skip_special_tokens: !opts.keepSpecial, clean_up_tokenization_spaces: false });
  }

  /**
   * The text `id` adds after `prev`: decode([prev, id]) less decode([prev]), so that pieces printed one
   * after another spell decode(ids) (a sentencepiece space is dropped after BOS, kept inside text).
   * A character split over byte tokens comes out as U+FFFD piece by piece; decode the ids for text.
   */
  decodeToken(prev: number, id: number): string {
    this.checkIds([prev, id], 'decodeToken');
    const head = this.decode([prev]);
    const both = this.decode([prev, id]);
    return both.startsWith(head) ? both.slice(head.length) : this.decode([id]);
  }

  /** The id of a token spelled exactly so, or -1. */
  lookup(token: string): number {
    return this.inner.token_to_id(token) ?? -1;
  }

  private special(which: string, id: number | null): number {
    if (id === null) throw new Error(`HfTokenizer.encode: ${which} was asked for but the tokenizer has no ${which.toUpperCase()} token`);
    return id;
  }

  private checkIds(ids: readonly number[], op: string): void {
    if (!Array.isArray(ids)) throw new TypeError(`HfTokenizer.${op}: expected an array of ids, got ${typeof ids}`);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new RangeError(`HfTokenizer.${op}: id ${id} at index ${i} is outside 0..${this.vocabSize - 1}`);
    }
  }
}
