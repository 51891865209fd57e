/** LlamaConfig with Hugging Face's defaults (LLaMA-7B's shapes). */
import { ModelConfig } from '../config_base';

export class LlamaConfig extends ModelConfig {
  readonly modelType = 'llama';
  architectures: string[] = ['LlamaForCausalLM'];
  vocabSize = 32000;
  hiddenSize = 4096;
  intermediateSize = 11008;
  numHiddenLayers = 32;
  numAttentionHeads = 32;
  numKeyValueHeads = 32;
  hiddenAct = 'silu';
  maxPositionEmbeddings = 2048;
  initializerRange = 0.02;
  rmsNormEps = 1e-6;
  ropeTheta = 10000;
  tieWordEmbeddings = false;
  attentionBias = false;
  mlpBias = false;
  attentionDropout = 0;
  bosTokenId = 1;
  eosTokenId = 2;
  padTokenId: number | null = null;
  /** Labels of a sequence-classification head (LlamaForSequenceClassification); HF's default has 2. */
  id2label: Record<string, string> = { 0: 'LABEL_0', 1: 'LABEL_1' };
  label2id: Record<string, number> = { LABEL_0: 0, LABEL_1: 1 };
  /**
   * Not HF's: true for llama2.c checkpoints, whose q/k rows are not permuted for HF's rotate_half, so RoPE
   * must rotate interleaved pairs (2i, 2i+1). Written to config.json only when true.
   */
  ropeInterleaved = false;
  /**
   * Not HF's: what LlamaForSequenceClassification feeds its head. 'last' is HF's (the hidden state of each
   * row's last real token); 'mean' averages the hidden states of the real tokens, which keeps every token's
   * evidence in reach of the head (a small or briefly pretrained base summarises a message poorly in its
   * last position). Written to config.json only when 'mean'.
   */
  classifierPooling: 'last' | 'mean' = 'last';

  constructor(fields: Partial<Omit<LlamaConfig, 'modelType' | 'extra'>> = {}) {
    super();
    Object.assign(this, fields);
    if (fields.numKeyValueHeads === undefined && fields.numAttentionHeads !== undefined) this.numKeyValueHeads = this.numAttentionHeads;
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): LlamaConfig {
    const c = new LlamaConfig();
    c.assign(dict, file);
    if (dict.num_key_value_heads === undefined || dict.num_key_value_heads === null) c.numKeyValueHeads = c.numAttentionHeads;
    c.validate();
    return c;
  }

  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  get headDim(): number {
    return this.hiddenSize / this.numAttentionHeads;
  }

  override toDict(): Record<string, unknown> {
    const d = super.toDict();
    if (!this.ropeInterleaved) delete d.rope_interleaved;
    if (this.classifierPooling === 'last') delete d.classifier_pooling;
    return { ...d, model_type: this.modelType };
  }

  private validate(): void {
    this.requirePositive('vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads');
    if (this.classifierPooling !== 'last' && this.classifierPooling !== 'mean')
      throw new RangeError(`LlamaConfig: classifier_pooling must be 'last' or 'mean', got ${JSON.stringify(this.classifierPooling)}`);
    if (this.hiddenSize % this.numAttentionHeads !== 0)
      throw new RangeError(`LlamaConfig: hidden_size ${this.hiddenSize} is not divisible by num_attention_heads ${this.numAttentionHeads}`);
    if (this.numAttentionHeads % this.numKeyValueHeads !== 0)
      throw new RangeError(`LlamaConfig: num_attention_heads ${this.numAttentionHeads} is not divisible by num_key_value_heads ${this.numKeyValueHeads}`);
  }
}
