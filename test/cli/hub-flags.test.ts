/**
 * --revision and --token on the CLI commands that take --model, against the small local Hub of
 * test/helpers/hub_server.ts (HF_ENDPOINT at it, HF_HUB_CACHE in a temporary folder; nothing of the download
 * code mocked): --revision v2 loads the files of that branch (other weights: another loss), asking the Hub
 * for /resolve/v2/; --token is sent as `Authorization: Bearer` and opens a private repo, over HF_TOKEN when
 * both are set (HF_TOKEN stays the fallback); every command's help names both flags.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LlamaConfig, LlamaForCausalLM, manualSeed, saveModelFolder } from '../../lib';
import { EVAL_HELP, evalCommand } from '../../lib/cli/eval_command';
import { EVAL_LOSS_HELP, evalLossCommand } from '../../lib/cli/eval_loss_command';
import { GENERATE_HELP, generateCommand } from '../../lib/cli/generate_command';
import { MERGE_HELP, mergeCommand } from '../../lib/cli/merge_command';
import { TRAIN_HELP } from '../../lib/cli/train_command';
import { LocalHub } from '../helpers/hub_server';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const LLAMA = path.join(FIXTURES, 'models', 'llama');
const TOKENIZER = path.join(FIXTURES, 'io', 'tokenizers', 'llama');
const LORA = path.join(FIXTURES, 'peft', 'lora_llama');
const COMMIT_MAIN = '1'.repeat(40);
const COMMIT_V2 = '2'.repeat(40);
const COMMIT_PRIVATE = '3'.repeat(40);
const TOKEN = 'hf_cli_secret';
const ENV = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HOME', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_HUB_DISABLE_PROGRESS_BARS', 'HUGGING_FACE_HUB_TOKEN'];
const TEXT = 'Once upon a time there was a tiny model that lived on a small hub.';

let tmp: string;
let hub: LocalHub;
let mainFolder: string;
let v2Folder: string;
let textFile: string;
const saved: Record<string, string | undefined> = {};
const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-cli-hub-'));
  textFile = path.join(tmp, 'story.txt');
  fs.writeFileSync(textFile, TEXT);
  // org/tiny's main and v2: the tiny Llama fixture's architecture (so the LoRA fixture merges onto it) with the
  // tokenizer's vocabulary, two random initialisations (so two losses), each folder with the tokenizer.
  const config = JSON.parse(fs.readFileSync(path.join(LLAMA, 'config.json'), 'utf8')) as Record<string, unknown>;
  const folderOf = (name: string, seed: number) => {
    manualSeed(seed);
    const model = new LlamaForCausalLM(LlamaConfig.fromDict({ ...config, vocab_size: 512 }));
    const dir = path.join(tmp, name);
    saveModelFolder(model, dir);
    model.dispose();
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(TOKENIZER, f), path.join(dir, f));
    return dir;
  };
  mainFolder = folderOf('main', 1);
  v2Folder = folderOf('v2', 2);
  const files = (dir: string) => Object.fromEntries(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].map((n) => [n, path.join(dir, n)]));
  const main = files(mainFolder);
  hub = await LocalHub.start({
    'org/tiny': {
      refs: { main: COMMIT_MAIN, v2: COMMIT_V2 },
      commits: { [COMMIT_MAIN]: main, [COMMIT_V2]: files(v2Folder) },
    },
    'org/private': { token: TOKEN, refs: { main: COMMIT_PRIVATE }, commits: { [COMMIT_PRIVATE]: main } },
  }, path.join(tmp, 'requests.jsonl'));
  for (const k of ENV) saved[k] = process.env[k];
  for (const k of ENV) delete process.env[k];
  process.env.HF_ENDPOINT = hub.endpoint;
  process.env.HF_HOME = path.join(tmp, 'hf-home');  // no token file of the user's
  process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';
});

afterAll(async () => {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  if (hub) await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  stderr.mockRestore();
});

let cacheCount = 0;
beforeEach(() => {
  process.env.HF_HUB_CACHE = path.join(tmp, `cache-${cacheCount++}`);  // every case downloads afresh
  delete process.env.HF_TOKEN;
  hub.clearLog();
});

const localLoss = (model: string) => evalLossCommand(['--model', model, '--text', textFile]).loss;
const resolves = () => hub.requests().filter((r) => r.url.includes('/resolve/'));

describe('--revision', () => {
  it('eval-loss loads the files of that revision (model and tokenizer), main without it', () => {
    const v2 = evalLossCommand(['--model', 'org/tiny', '--revision', 'v2', '--text', textFile]).loss;
    expect(v2).toBeCloseTo(localLoss(v2Folder), 6);
    expect(resolves()[0].url).toBe('/org/tiny/resolve/v2/config.json');
    expect(resolves().map((r) => r.url).every((u) => u.includes('/resolve/v2/') || u.includes(`/resolve/${COMMIT_V2}/`))).toBe(true);
    expect(resolves().some((r) => r.url.endsWith('/tokenizer.json'))).toBe(true);
    hub.clearLog();
    const main = evalLossCommand(['--model', 'org/tiny', '--text', textFile]).loss;
    expect(main).toBeCloseTo(localLoss(mainFolder), 6);
    expect(Math.abs(main - v2)).toBeGreaterThan(1e-3);
    expect(resolves()[0].url).toBe('/org/tiny/resolve/main/config.json');
  });

  it('generate, eval and merge take it too', () => {
    const text = (model: string[]) => {
      let s = '';
      generateCommand([...model, '--prompt', 'Once', '--max-tokens', '6'], (t) => (s += t));
      return s;
    };
    expect(text(['--model', 'org/tiny', '--revision', 'v2'])).toBe(text(['--model', v2Folder]));
    const asEval = evalCommand(['--model', 'org/tiny', '--revision', 'v2', '--task', 'causal-lm', '--data', textFile]);
    expect(asEval.eval_loss).toBeCloseTo(evalCommand(['--model', v2Folder, '--task', 'causal-lm', '--data', textFile]).eval_loss, 6);
    process.env.HF_HUB_CACHE = path.join(tmp, `cache-${cacheCount++}`);  // a commit hash: fetched by it, not by the branch
    hub.clearLog();
    const out = mergeCommand(['--model', 'org/tiny', '--revision', COMMIT_V2, '--adapter', LORA, '--out', path.join(tmp, 'merged')]);
    expect(resolves().map((r) => r.url)).toContain(`/org/tiny/resolve/${COMMIT_V2}/model.safetensors`);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(true);
  });

  it('an unknown revision is an error naming it', () => {
    expect(() => evalLossCommand(['--model', 'org/tiny', '--revision', 'v9', '--text', textFile])).toThrow(/revision 'v9'|v9/);
    expect(() => evalLossCommand(['--model', 'org/tiny', '--revision', '', '--text', textFile])).toThrow('peftjs eval-loss: --revision must not be empty');
  });
});

describe('--token', () => {
  it('is sent as the Authorization header and opens a private repo', () => {
    expect(() => evalLossCommand(['--model', 'org/private', '--text', textFile])).toThrow(/org\/private.*401/);
    hub.clearLog();
    expect(evalLossCommand(['--model', 'org/private', '--token', TOKEN, '--text', textFile]).loss).toBeCloseTo(localLoss(mainFolder), 6);
    expect(resolves().length).toBeGreaterThan(0);
    expect(resolves().every((r) => r.auth === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('wins over HF_TOKEN, which stays the fallback', () => {
    process.env.HF_TOKEN = 'hf_wrong';
    expect(evalLossCommand(['--model', 'org/private', '--token', TOKEN, '--text', textFile]).loss).toBeCloseTo(localLoss(mainFolder), 6);
    expect(resolves().every((r) => r.auth === `Bearer ${TOKEN}`)).toBe(true);
    process.env.HF_HUB_CACHE = path.join(tmp, `cache-${cacheCount++}`);
    process.env.HF_TOKEN = TOKEN;
    hub.clearLog();
    let s = '';
    generateCommand(['--model', 'org/private', '--prompt', 'Once', '--max-tokens', '3'], (t) => (s += t));
    expect(s.length).toBeGreaterThan(0);
    expect(resolves().every((r) => r.auth === `Bearer ${TOKEN}`)).toBe(true);
  });
});

it('every command that takes --model documents --revision and --token', () => {
  for (const help of [TRAIN_HELP, EVAL_HELP, GENERATE_HELP, EVAL_LOSS_HELP, MERGE_HELP]) {
    expect(help).toMatch(/\[--revision REV\] \[--token TOKEN\]/);
    expect(help).toMatch(/--revision REV \/ --token TOKEN: for a Hub id/);
  }
});
