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
import * as path from 'path';
import { main as loraMain } from '../examples/lora_finetune';

describe('the LoRA fine-tuning example', () => {
  it('lowers the loss and writes an HF-layout adapter folder', () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const { losses, adapterDir } = loraMain();
    log.mockRestore();
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.8);
    expect(fs.readdirSync(adapterDir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['c_attn', 'c_fc'] });
  });
});
