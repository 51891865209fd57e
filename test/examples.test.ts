import { main } from '../examples/basic';

describe('the README example', () => {
  it('runs and prints a probability row', () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const row = main();
    log.mockRestore();
    expect(row).toHaveLength(768);
    expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(Math.max(...row)).toBeLessThan(1);
  });
});

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main as loraMain } from '../examples/lora_finetune';

describe('the LoRA fine-tuning example', () => {
  it('lowers the loss and writes an HF-layout adapter folder', () => {
    // It saves to ./my-adapter, as a reader's copy of the README would: run it in a fresh folder.
    const cwd = process.cwd();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lora-'));
    process.chdir(dir);
    try {
      const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
      const { losses, adapterDir } = loraMain();
      log.mockRestore();
      expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.8);
      expect(fs.readdirSync(adapterDir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
      expect(JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['c_attn', 'c_fc'] });
    } finally {
      process.chdir(cwd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is the README's LoRA block: its peftjs import and main's body above the return", () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Fine-tuning with LoRA'));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    const lines = fs.readFileSync(path.join(__dirname, '..', 'examples', 'lora_finetune.ts'), 'utf8').split('\n');
    const imports = lines.filter((l) => l.startsWith('import ') && l.endsWith("from 'peftjs';"));
    const start = lines.findIndex((l) => l.startsWith('export function main('));
    const end = lines.findIndex((l, i) => i > start && l.startsWith('  return '));
    expect([imports.length, start >= 0, end > start]).toEqual([1, true, true]);
    const body = lines.slice(start + 1, end).map((l) => l.replace(/^ {2}/, ''));
    expect(block).toBe([...imports, '', ...body].join('\n') + '\n');
  });
});
