/**
 * CSV as RFC 4180 writes it: fields separated by commas, records by CRLF or LF; a field in double quotes may
 * hold commas, line breaks and doubled quotes (""). Each record carries the line it starts on, so errors
 * name the line a person sees in an editor. A malformed record (a quote inside an unquoted field, text
 * after a closing quote) is returned with its problem and parsing resumes at the next line; an unterminated
 * quoted field swallows the rest of the file, so it is always an error.
 */
import { DataError } from './data_error';

export interface CsvRecord {
  /** 1-based line the record starts on. */
  line: number;
  fields: string[];
  /** Set when the record is malformed (its fields are then incomplete). */
  problem?: string;
}

export function parseCsv(text: string, file = '<csv>'): CsvRecord[] {
  const out: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;  // a UTF-8 BOM, as spreadsheet exports write
  let line = 1;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let problem: string | undefined;
    // A blank line is no record (RFC 4180 has none; files end with one).
    if (text[i] === '\n' || (text[i] === '\r' && text[i + 1] === '\n')) {
      i += text[i] === '\r' ? 2 : 1;
      line++;
      continue;
    }
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        const open = line;
        i++;
        for (;;) {
          if (i >= n) throw new DataError(file, open, 'unterminated quoted field (a field opened with " is never closed)');
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n'))
          problem = `unexpected ${JSON.stringify(text[i])} after a closing quote (a quoted field must end at a comma or the line's end)`;
      } else {
        while (i < n && text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n')) {
          if (text[i] === '"' && problem === undefined) problem = 'a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"" c")';
          field += text[i];
          i++;
        }
      }
      fields.push(field);
      if (problem !== undefined) {
        // Resynchronize at the next line break.
        while (i < n && text[i] !== '\n') i++;
        if (i < n) i++;
        line++;
        break;
      }
      if (i >= n) break;
      if (text[i] === ',') {
        i++;
        continue;
      }
      i += text[i] === '\r' ? 2 : 1;
      line++;
      break;
    }
    out.push(problem === undefined ? { line: start, fields } : { line: start, fields, problem });
  }
  return out;
}
