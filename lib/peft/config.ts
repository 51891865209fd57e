/**
 * PEFT configs: HF peft's fields in camelCase here, written to adapter_config.json with HF's snake_case keys
 * (sorted, indent 2, as peft writes them). Unknown keys in a file are tolerated (kept and written back).
 */
import { FileFormatError } from '../io/errors';
import { camelToSnake, snakeToCamel } from '../nn/models/config_base';

export type PeftType =
  | 'LORA' | 'IA3' | 'PROMPT_TUNING' | 'PREFIX_TUNING' | 'P_TUNING'
  | 'BOTTLENECK_ADAPTER' | 'COMPACTER' | 'BITFIT' | 'LAYER_FREEZING' | 'DIFF_PRUNING'
  | 'LOHA' | 'LOKR' | 'VERA' | 'LN_TUNING' | 'TRAINABLE_TOKENS'
  | 'ADALORA'
  | 'FOURIERFT' | 'ADAPTION_PROMPT'
  | 'OFT' | 'BOFT';

export type TaskType = 'CAUSAL_LM' | 'SEQ_CLS' | 'SEQ_2_SEQ_LM' | 'TOKEN_CLS' | 'QUESTION_ANS' | 'FEATURE_EXTRACTION';

/**
 * An optimizer parameter group a method asks for besides the default one (diff pruning's log_alpha with
 * its own learning rate, say). The trainer puts every trainable parameter whose path matches into it.
 */
export interface PeftParamGroup {
  /** For messages and logs. */
  name: string;
  /** Whether a parameter belongs here, by its path in the PeftModel (`base_model.model.<...>.log_alpha.default`). */
  match: (path: string) => boolean;
  /** Overrides of the optimizer's defaults for this group. */
  lr?: number;
  weightDecay?: number;
}

const isNameList = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The JSON an adapter_config.json key may hold, for the keys whose default (null, {}) does not say it.
 * Keys with a number, boolean or string default must hold that type (see assignJSON). Checked when a
 * file is read so that `"target_modules": 42` is an error naming the file, not `target.includes is not
 * a function` later, deep in module matching. Ranges are each method's validate() business.
 */
const VALUE_SHAPES: Record<string, { expected: string; accepts: (v: unknown) => boolean }> = {};
const shape = (keys: string[], expected: string, accepts: (v: unknown) => boolean) => {
  for (const k of keys) VALUE_SHAPES[k] = { expected, accepts };
};
shape(['target_modules', 'exclude_modules', 'feedforward_modules', 'layers_pattern'], 'a string, a list of strings or null',
  (v) => v === null || typeof v === 'string' || isNameList(v));
shape(['modules_to_save'], 'a list of strings or null', (v) => v === null || isNameList(v));
shape(['layers_to_transform'], 'an integer, a list of integers or null',
  (v) => v === null || Number.isInteger(v) || (Array.isArray(v) && v.every((i) => Number.isInteger(i))));
shape(['rank_pattern', 'alpha_pattern'], 'an object of numbers or null',
  (v) => v === null || (isObject(v) && Object.values(v).every((n) => typeof n === 'number')));
shape(['task_type', 'base_model_name_or_path', 'revision', 'prompt_tuning_init_text', 'tokenizer_name_or_path'], 'a string or null',
  (v) => v === null || typeof v === 'string');
shape(['tokenizer_kwargs'], 'an object or null', (v) => v === null || isObject(v));

/** What the field's default says a file's value must be, or null when anything goes. */
function expectedLike(current: unknown): string | null {
  return typeof current === 'number' || typeof current === 'boolean' || typeof current === 'string' ? `a ${typeof current}` : null;
}

export abstract class PeftConfig {
  abstract readonly peftType: PeftType;
  taskType: TaskType | null = null;
  baseModelNameOrPath: string | null = null;
  revision: string | null = null;
  inferenceMode = false;
  /** adapter_config.json keys this config has no field for, kept verbatim. */
  extra: Record<string, unknown> = {};

  /** Fields set from a camelCase object (the constructor's argument). */
  protected init(fields: object): void {
    Object.assign(this, fields);
  }

  /** adapter_config.json's object: snake_case keys, sorted. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.extra };
    for (const [field, value] of Object.entries(this)) {
      if (field === 'extra' || value === undefined || typeof value === 'function') continue;
      out[camelToSnake(field)] = value instanceof Set ? [...value] : value;
    }
    out.peft_type = this.peftType;
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Sets fields from adapter_config.json's object; type mismatches with the defaults are errors naming the key. */
  assignJSON(dict: Record<string, unknown>, file: string): void {
    const self = this as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(dict)) {
      if (key === 'peft_type') continue;
      const field = snakeToCamel(key);
      // Only the config's own data fields are set from a file: not methods, getters or `extra` itself.
      if (field === 'extra' || !Object.prototype.propertyIsEnumerable.call(self, field)) {
        Object.defineProperty(this.extra, key, { value, enumerable: true, writable: true, configurable: true });  // "__proto__" too
        continue;
      }
      const declared = VALUE_SHAPES[key];
      const expected = declared?.expected ?? expectedLike(self[field]);
      const ok = declared ? declared.accepts(value) : expected === null || typeof value === typeof self[field];
      if (!ok) throw new FileFormatError('adapter config', file, `'${key}' must be ${expected}, got ${JSON.stringify(value)}`);
      self[field] = value;
    }
    try {
      this.validate();
    } catch (e) {
      // validate() names the field; the file is named here, so a bad adapter_config.json says where it is.
      const err = e as Error;
      const Kind = err instanceof RangeError ? RangeError : err instanceof TypeError ? TypeError : Error;
      throw new Kind(`${file}: ${err.message}`);
    }
  }

  /** Checks the fields; throws naming the bad one. */
  validate(): void {}

  /** Parameter groups this method wants apart from the default one; none unless a method overrides it. */
  optimizerParamGroups(): PeftParamGroup[] {
    return [];
  }
}

type ConfigClass = new () => PeftConfig;
const registry = new Map<PeftType, ConfigClass>();

export function registerPeftConfig(type: PeftType, cls: ConfigClass): void {
  registry.set(type, cls);
}

/** The config of an adapter_config.json object, by its peft_type. */
export function peftConfigFromJSON(dict: Record<string, unknown>, file = 'adapter_config.json'): PeftConfig {
  if (!isObject(dict)) throw new FileFormatError('adapter config', file, `expected a JSON object, got ${JSON.stringify(dict)}`);
  const type = dict.peft_type as PeftType;
  const cls = registry.get(type);
  if (!cls) throw new Error(`${file}: peft_type ${JSON.stringify(type)} is not supported (known: ${[...registry.keys()].join(', ')})`);
  const config = new cls();
  config.assignJSON(dict, file);
  return config;
}
