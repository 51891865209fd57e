/** GPT2Config with Hugging Face's defaults: `new GPT2Config()` is GPT-2 small (124M). */
import { ModelConfig } from '../config_base';

export class GPT2Config extends ModelConfig {
  readonly modelType = 'gpt2';
  architectures: string[] = ['GPT2LMHeadModel'];
  vocabSize = 50257;
  nPositions = 1024;
  nEmbd = 768;
  nLayer = 12;
  nHead = 12;
  /** Width of the MLP; null means 4 * nEmbd. */
  nInner: number | null = null;
  activationFunction = 'gelu_new';
  residPdrop = 0.1;
  embdPdrop = 0.1;
  attnPdrop = 0.1;
  layerNormEpsilon = 1e-5;
  initializerRange = 0.02;
  scaleAttnWeights = true;
  tieWordEmbeddings = true;
  bosTokenId = 50256;
  eosTokenId = 50256;

  constructor(fields: Partial<Omit<GPT2Config, 'modelType' | 'extra'>> = {}) {
    super();
    Object.assign(this, fields);
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): GPT2Config {
    const c = new GPT2Config();
    c.assign(dict, file);
    c.validate();
    return c;
  }

  get innerSize(): number {
    return this.nInner ?? 4 * this.nEmbd;
  }

  override toDict(): Record<string, unknown> {
    return { ...super.toDict(), model_type: this.modelType };
  }

  private validate(): void {
    this.requirePositive('vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead');
    if (this.nEmbd % this.nHead !== 0) throw new RangeError(`GPT2Config: n_embd ${this.nEmbd} is not divisible by n_head ${this.nHead}`);
  }
}
