/** Where the LoRA tuner's warnings go (HF prints them with warnings.warn); tests may capture them. */
let handler: (message: string) => void = (m) => console.warn(`peft: ${m}`);

export function setLoraWarningHandler(fn: (message: string) => void): (message: string) => void {
  const before = handler;
  handler = fn;
  return before;
}

export function loraWarn(message: string): void {
  handler(message);
}
