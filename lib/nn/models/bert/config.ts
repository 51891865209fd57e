/** BertConfig with Hugging Face's defaults (bert-base-uncased's shapes). */
import { ModelConfig } from '../config_base';

export class BertConfig extends ModelConfig {
  readonly modelType = 'bert';
  architectures: string[] = ['BertForSequenceClassification'];
  vocabSize = 30522;
  hiddenSize = 768;
  numHiddenLayers = 12;
  numAttentionHeads = 12;
  intermediateSize = 3072;
  hiddenAct = 'gelu';
  hiddenDropoutProb = 0.1;
  attentionProbsDropoutProb = 0.1;
  maxPositionEmbeddings = 512;
  typeVocabSize = 2;
  initializerRange = 0.02;
  layerNormEps = 1e-12;
  padTokenId = 0;
  positionEmbeddingType = 'absolute';
  classifierDropout: number | null = null;
  /** Labels of the classification head; HF derives num_labels from id2label (default 2). */
  id2label: Record<string, string> = { 0: 'LABEL_0', 1: 'LABEL_1' };
  label2id: Record<string, number> = { LABEL_0: 0, LABEL_1: 1 };
  problemType: string | null = null;

  constructor(fields: Partial<Omit<BertConfig, 'modelType' | 'extra' | 'numLabels'>> & { numLabels?: number } = {}) {
    super();
    const { numLabels, ...rest } = fields;
    Object.assign(this, rest);
    if (numLabels !== undefined) this.setNumLabels(numLabels);
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): BertConfig {
    const c = new BertConfig();
    const { num_labels: numLabels, id2label, label2id, ...rest } = dict;
    c.assign(rest, file);
    if (id2label && typeof id2label === 'object') c.id2label = id2label as Record<string, string>;
    if (label2id && typeof label2id === 'object') c.label2id = label2id as Record<string, number>;
    if (typeof numLabels === 'number' && numLabels !== c.numLabels) c.setNumLabels(numLabels);
    c.validate();
    return c;
  }

  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  setNumLabels(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`BertConfig: num_labels must be a positive integer, got ${n}`);
    this.id2label = {};
    this.label2id = {};
    for (let i = 0; i < n; i++) {
      this.id2label[String(i)] = `LABEL_${i}`;
      this.label2id[`LABEL_${i}`] = i;
    }
  }

  get headDim(): number {
    return this.hiddenSize / this.numAttentionHeads;
  }

  override toDict(): Record<string, unknown> {
    const d = super.toDict();
    // HF writes id2label/label2id with these exact keys (camelToSnake would give id2label unchanged anyway).
    return { ...d, model_type: this.modelType };
  }

  private validate(): void {
    this.requirePositive('vocabSize', 'hiddenSize', 'numHiddenLayers', 'numAttentionHeads', 'intermediateSize', 'maxPositionEmbeddings', 'typeVocabSize');
    if (this.hiddenSize % this.numAttentionHeads !== 0)
      throw new RangeError(`BertConfig: hidden_size ${this.hiddenSize} is not divisible by num_attention_heads ${this.numAttentionHeads}`);
  }
}
