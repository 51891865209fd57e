/**
 * Chat templates as Hugging Face tokenizers carry them: tokenizer_config.json's `chat_template`, a Jinja
 * string or a list of {name, template} (the one named "default" unless another is asked for), or a
 * chat_template.jinja beside tokenizer.json (what transformers writes since 4.50). They are rendered with
 * @huggingface/jinja, the Jinja interpreter transformers.js uses, with the variables HF's
 * apply_chat_template passes: messages, add_generation_prompt, the special tokens of tokenizer_config.json
 * (bos_token, eos_token, unk_token, pad_token, sep_token, cls_token, mask_token,
 * additional_special_tokens) and any extra variables given; `raise_exception(msg)` is the interpreter's
 * own. The package is loaded on first use, so the rest of peftjs works without it.
 */

const PACKAGE = '@huggingface/jinja';

/** One message of a conversation: HF's {role, content} (extra fields, e.g. tool_calls, reach the template). */
export interface ChatMessage {
  role: string;
  content: string | null;
  [field: string]: unknown;
}

export interface ChatTemplateOptions {
  /** Append the header that starts the assistant's turn (HF's add_generation_prompt). Default false. */
  addGenerationPrompt?: boolean;
  /** More template variables (tools, documents, ...), as HF's **kwargs. */
  variables?: Record<string, unknown>;
}

/** A template that failed: its parse error, or what raise_exception (or a runtime error) said. */
export class ChatTemplateError extends Error {
  constructor(readonly source: string, readonly problem: string) {
    super(`chat template of ${source}: ${problem}`);
    this.name = 'ChatTemplateError';
  }
}

interface JinjaTemplate {
  render(items: Record<string, unknown>): string;
}
type JinjaTemplateCtor = new (source: string) => JinjaTemplate;
let ctor: JinjaTemplateCtor | null = null;

function jinja(): JinjaTemplateCtor {
  if (ctor !== null) return ctor;
  let mod: { Template?: JinjaTemplateCtor };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(PACKAGE);
  } catch (e) {
    throw new Error(`chat templates need the package ${PACKAGE} (npm install ${PACKAGE}): ${(e as Error).message}`);
  }
  if (typeof mod.Template !== 'function') throw new Error(`${PACKAGE} has no Template class (expected version ^0.5)`);
  ctor = mod.Template;
  return ctor;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** HF's special-token attributes that apply_chat_template passes to the template. */
export const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return null;
}

/** The special tokens of a tokenizer_config.json as template variables (HF's special_tokens_map). */
export function specialTokenVariables(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of SPECIAL_TOKEN_KEYS) {
    const t = tokenText(config[k]);
    if (t !== null) out[k] = t;
  }
  const extra = config.additional_special_tokens;
  if (Array.isArray(extra)) out.additional_special_tokens = extra.map(tokenText).filter((t): t is string => t !== null);
  return out;
}

/**
 * The template text of a `chat_template` field: a string, or a list of {name, template} from which `name`
 * (default: "default") is taken. null when the field is absent; an error naming the field when malformed.
 */
export function selectChatTemplate(field: unknown, source: string, name?: string): string | null {
  if (field === undefined || field === null) return null;
  if (typeof field === 'string') {
    if (name !== undefined && name !== 'default') throw new ChatTemplateError(source, `there is one chat_template (a string), not one named ${JSON.stringify(name)}`);
    return field;
  }
  if (!Array.isArray(field)) throw new ChatTemplateError(source, `"chat_template" must be a string or a list of {"name", "template"}, got ${JSON.stringify(field).slice(0, 80)}`);
  const named = new Map<string, string>();
  field.forEach((entry, i) => {
    if (!isObject(entry) || typeof entry.name !== 'string' || typeof entry.template !== 'string')
      throw new ChatTemplateError(source, `"chat_template"[${i}] must be {"name": string, "template": string}, got ${JSON.stringify(entry).slice(0, 80)}`);
    named.set(entry.name, entry.template);
  });
  const want = name ?? 'default';
  const t = named.get(want);
  if (t === undefined)
    throw new ChatTemplateError(source, `no chat template named ${JSON.stringify(want)} (the tokenizer has ${[...named.keys()].map((n) => JSON.stringify(n)).join(', ') || 'none'})`);
  return t;
}

/** The roles HF's own templates and datasets use; any template accepts them unless it raises. */
export const STANDARD_ROLES = ['system', 'user', 'assistant', 'tool'] as const;

/** A parsed chat template with the tokenizer's special tokens bound. */
export class ChatTemplate {
  private readonly template: JinjaTemplate;
  /** Roles the template names as string literals besides the standard ones (e.g. Gemma's 'model', Llama 3.1's 'ipython'). */
  readonly roles: ReadonlySet<string>;

  constructor(readonly text: string, readonly specialTokens: Record<string, unknown> = {}, readonly source = '<chat template>') {
    if (typeof text !== 'string') throw new TypeError(`ChatTemplate: expected the template text, got ${typeof text}`);
    const Template = jinja();
    try {
      this.template = new Template(text);
    } catch (e) {
      throw new ChatTemplateError(source, `cannot be parsed: ${(e as Error).message}`);
    }
    const roles = new Set<string>(STANDARD_ROLES);
    for (const m of text.matchAll(/'([A-Za-z_][\w-]*)'|"([A-Za-z_][\w-]*)"/g)) roles.add(m[1] ?? m[2]);
    this.roles = roles;
  }

  /** The conversation as text, as HF's apply_chat_template(messages, tokenize=False) renders it. */
  render(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    checkMessages(messages);
    try {
      return this.template.render({
        ...this.specialTokens,
        ...(opts.variables ?? {}),
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: opts.addGenerationPrompt ?? false,
      });
    } catch (e) {
      throw new ChatTemplateError(this.source, (e as Error).message);
    }
  }
}

/** Messages as HF takes them: a list of objects with a string role and a string (or null) content. */
export function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages)) throw new TypeError(`chat template: messages must be a list of {role, content}, got ${typeof messages}`);
  messages.forEach((m, i) => {
    if (!isObject(m)) throw new TypeError(`chat template: messages[${i}] must be an object {role, content}, got ${JSON.stringify(m)}`);
    if (typeof m.role !== 'string') throw new TypeError(`chat template: messages[${i}].role must be a string, got ${JSON.stringify(m.role)}`);
    if (typeof m.content !== 'string' && m.content !== null && !Array.isArray(m.content))
      throw new TypeError(`chat template: messages[${i}].content must be a string, got ${JSON.stringify(m.content)}`);
  });
}

/** The chat template of a tokenizer_config.json (or the text of a chat_template.jinja), or null when it has none. */
export function chatTemplateFromConfig(config: Record<string, unknown>, source: string, opts: { name?: string; jinjaText?: string | null } = {}): ChatTemplate | null {
  let text = selectChatTemplate(config.chat_template, source, opts.name);
  if (text === null && typeof opts.jinjaText === 'string') text = opts.jinjaText;
  return text === null ? null : new ChatTemplate(text, specialTokenVariables(config), source);
}
