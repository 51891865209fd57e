/**
 * adapter_config.json values of the wrong type are refused when the file is read, with an error naming
 * the file, the key, what it must be and what it holds, for every PEFT method: before, a value such as
 * `"target_modules": 42` loaded and failed later as `target.includes is not a function`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError, PeftModel, setBackend } from '../../lib';
import { METHOD_CONFIGS, tinyGpt2, writeAdapterFolder } from './adapter_folders';
import { scratchDir } from './helpers';

const { dir: scratch, cleanup } = scratchDir('adapter-config');
afterAll(cleanup);
beforeAll(() => setBackend('native'));

const METHODS = Object.keys(METHOD_CONFIGS);
const good = new Map<string, string>();

/** A copy of method's valid folder with adapter_config.json changed by `edit`; returns the config's path. */
function edited(method: string, edit: (config: Record<string, unknown>) => void): string {
  if (!good.has(method)) {
    const dir = path.join(scratch, `good-${method}`);
    writeAdapterFolder(method, dir);
    good.set(method, dir);
  }
  const dir = fs.mkdtempSync(path.join(scratch, `${method}-`));
  for (const f of fs.readdirSync(good.get(method)!)) fs.copyFileSync(path.join(good.get(method)!, f), path.join(dir, f));
  const file = path.join(dir, 'adapter_config.json');
  const config = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(config);
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

const load = (configFile: string) => () => PeftModel.fromPretrained(tinyGpt2(), path.dirname(configFile));

test.each(METHODS)('%s: the unedited folder loads (the baseline of the cases below)', (method) => {
  expect(load(edited(method, () => {}))).not.toThrow();
});

const WRONG_TYPES: [key: string, value: unknown, expected: string][] = [
  ['target_modules', 42, 'a string, a list of strings or null'],
  ['target_modules', ['c_attn', 7], 'a string, a list of strings or null'],
  ['exclude_modules', { c_attn: true }, 'a string, a list of strings or null'],
  ['feedforward_modules', 3, 'a string, a list of strings or null'],
  ['layers_pattern', [1], 'a string, a list of strings or null'],
  ['modules_to_save', 'lm_head', 'a list of strings or null'],
  ['layers_to_transform', '0', 'an integer, a list of integers or null'],
  ['layers_to_transform', [0.5], 'an integer, a list of integers or null'],
  ['rank_pattern', 42, 'an object of numbers or null'],
  ['alpha_pattern', { c_attn: '8' }, 'an object of numbers or null'],
  ['task_type', 7, 'a string or null'],
  ['base_model_name_or_path', false, 'a string or null'],
  ['r', '8', 'a number'],
  ['lora_alpha', [16], 'a number'],
  ['lora_dropout', null, 'a number'],
  ['fan_in_fan_out', 'false', 'a boolean'],
  ['inference_mode', 1, 'a boolean'],
  ['bias', 0, 'a string'],
  ['num_frozen_layers', '1', 'a number'],
  ['reduction_factor', null, 'a number'],
  ['adapter_type', ['houlsby'], 'a string'],
  ['phm_dim', true, 'a number'],
  ['target_density', '0.5', 'a number'],
  ['encoder_num_layers', {}, 'a number'],
  ['prompt_tuning_init', null, 'a string'],
  ['tokenizer_kwargs', 'x', 'an object or null'],
];

describe.each(METHODS)('%s', (method) => {
  // Each key is tried on the methods whose files have it (a key a method lacks is kept as an extra).
  const own = WRONG_TYPES.filter(([key]) => key in METHOD_CONFIGS[method]().toJSON());
  test.each(own.map(([key, value, expected]) => ({ key, value, expected, shown: JSON.stringify(value) })))(
    '$key = $shown is a FileFormatError: the file, the key, $expected, the value', ({ key, value, expected }) => {
      const file = edited(method, (c) => { c[key] = value; });
      let caught: unknown;
      try {
        load(file)();
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(FileFormatError);
      expect((caught as Error).message).toBe(`adapter config file ${file}: '${key}' must be ${expected}, got ${JSON.stringify(value)}`);
    });
});

test('a config that is not an object names the file', () => {
  const file = edited('LORA', () => {});
  fs.writeFileSync(file, '[1]');
  expect(load(file)).toThrow(new FileFormatError('adapter config', file, 'expected a JSON object, got [1]'));
});

test('keys naming methods or hidden fields ("validate", "tokenizer") are kept as extras, not assigned over the config\'s own', () => {
  const file = edited('PROMPT_TUNING', (c) => {
    c.validate = 1;
    c.tokenizer = 42;
    c.__proto__ = { polluted: true };
  });
  const peft = load(file)();
  const config = peft.peftConfig.get('default')!;
  expect(config.extra).toMatchObject({ validate: 1, tokenizer: 42 });
  expect(Object.getPrototypeOf(config.extra)).toBe(Object.prototype);
  expect((config as unknown as { tokenizer: unknown }).tokenizer).toBeNull();
});
