/**
 * The JSON helpers of the HF folder code: the error-position scanner agrees with JSON.parse on what is
 * valid (fuzzed) and with V8 on where, when V8 says; hfJsonString spells JSON as Python's
 * json.dumps(indent=2, sort_keys=True) does.
 */
import { hfJsonString } from '../../lib/io';
import { jsonErrorOffset } from '../../lib/io/json_error_position';

const SAMPLES = [
  '{"a": [1, -2.5e3, true, false, null], "b": {"c": "x\\n\\u00e9\\"y"}, "d": []}',
  '[{}, [], "", 0, -0.0, 1E+2, "\\/"]',
  '  "plain"  ',
  '{"architectures": ["LlamaForCausalLM"], "rope_scaling": null, "eps": 1e-05}',
];

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

test('valid texts have no error offset', () => {
  for (const s of SAMPLES) expect(jsonErrorOffset(s)).toBe(-1);
});

test('mutated texts: the scanner and JSON.parse agree on validity, and on the position when V8 gives one', () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const alphabet = '{}[]",:.-+eE0123456789 \\tnulrfasx\n';
  let checked = 0;
  for (let round = 0; round < 3000; round++) {
    let s = SAMPLES[rand(SAMPLES.length)];
    const at = rand(s.length + 1);
    const op = rand(3);
    if (op === 0) s = s.slice(0, at) + s.slice(at + 1);
    else if (op === 1) s = s.slice(0, at) + alphabet[rand(alphabet.length)] + s.slice(at);
    else s = s.slice(0, at);
    const ok = parses(s);
    const offset = jsonErrorOffset(s);
    if (ok !== (offset === -1)) throw new Error(`disagree on ${JSON.stringify(s)}: JSON.parse ${ok}, scanner offset ${offset}`);
    if (!ok) {
      try {
        JSON.parse(s);
      } catch (e) {
        const m = /at position (\d+)/.exec((e as Error).message);
        if (m) {
          expect({ s, offset }).toEqual({ s, offset: Number(m[1]) });
          checked++;
        }
      }
    }
  }
  expect(checked).toBeGreaterThan(100);
});

test('hfJsonString: sorted keys at every level, indent 2, ASCII escapes, trailing newline', () => {
  expect(hfJsonString({ b: 1, a: { z: [1, { y: 2, x: 'é☃🦙' }], m: [] }, c: {} }, 'x')).toBe(
    '{\n  "a": {\n    "m": [],\n    "z": [\n      1,\n      {\n        "x": "\\u00e9\\u2603\\ud83e\\udd99",\n        "y": 2\n      }\n    ]\n  },\n' +
    '  "b": 1,\n  "c": {}\n}\n');
  // Python sorts by code point: U+FF5E sorts before U+1F999 although its UTF-16 unit is larger.
  expect(hfJsonString({ '\u{1f999}': 1, '\uff5e': 2 }, 'x')).toBe('{\n  "\\uff5e": 2,\n  "\\ud83e\\udd99": 1\n}\n');
  expect(() => hfJsonString({ a: Infinity }, 'cfg')).toThrow(/cfg: "a" is Infinity, which JSON cannot hold/);
  expect(() => hfJsonString({ a: 1n }, 'cfg')).toThrow(/"a" is a bigint/);
});
