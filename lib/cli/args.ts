/** Flag parsing for the peftjs command: --name value and --flag, with errors that name the bad flag. */

export interface FlagSpec {
  /** Flags that take a value. */
  values: readonly string[];
  /** Flags that stand alone (booleans). */
  switches?: readonly string[];
  required?: readonly string[];
}

export class CliError extends Error {}

export function parseFlags(command: string, argv: string[], spec: FlagSpec): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new CliError(`peftjs ${command}: unexpected argument '${arg}' (flags start with --; see peftjs ${command} --help)`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (spec.switches?.includes(name)) {
      if (eq > 0) throw new CliError(`peftjs ${command}: --${name} takes no value`);
      out.set(name, true);
      continue;
    }
    if (!spec.values.includes(name)) {
      const known = [...spec.values, ...(spec.switches ?? [])].map((f) => `--${f}`).join(', ');
      throw new CliError(`peftjs ${command}: unknown flag --${name} (known: ${known})`);
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new CliError(`peftjs ${command}: --${name} needs a value`);
    out.set(name, value);
  }
  for (const r of spec.required ?? []) if (!out.has(r)) throw new CliError(`peftjs ${command}: --${r} is required (see peftjs ${command} --help)`);
  return out;
}

export function numberFlag(command: string, flags: Map<string, string | true>, name: string, fallback: number,
                           check: (v: number) => boolean = Number.isFinite, expected = 'a number'): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw === true || raw === '' || !check(v)) throw new CliError(`peftjs ${command}: --${name} must be ${expected}, got '${String(raw)}'`);
  return v;
}

export function stringFlag(flags: Map<string, string | true>, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}
