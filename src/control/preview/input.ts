import { SEGMENT_TYPES } from '../../events/segment.ts';
import { isPlainObject } from '../../json-values.ts';
import type { InputBody } from './types.ts';

/** A bad input file or line: the message starts with `file:line:`. */
export class PreviewInputError extends Error {
  override name = 'PreviewInputError';
}

const SHAPES_EXPECTED =
  'expected an Amplitude HTTP V2 body ({"api_key", "events": [...]}), a Segment batch ({"batch": [...]}) ' +
  `or a Segment call ({"type": ${SEGMENT_TYPES.join('|')}, …})`;

/**
 * Reads an input file: one JSON body (pretty-printed or not), or NDJSON with one body per line,
 * each line detected on its own so Amplitude and Segment calls can be mixed. Blank lines are skipped.
 */
export function parsePreviewInput(text: string, file: string): InputBody[] {
  if (text.trim() === '') throw new PreviewInputError(`${file}: the file is empty (${SHAPES_EXPECTED})`);
  let whole: unknown;
  let isWhole = false;
  try {
    whole = JSON.parse(text);
    isWhole = true;
  } catch {
    // Not one JSON document: read it as NDJSON below, which names the bad line.
  }
  if (isWhole) {
    const line = text.slice(0, text.length - text.trimStart().length).split('\n').length;
    return [classify(whole, `${file}:${line}`)];
  }
  const bodies: InputBody[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const ref = `${file}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new PreviewInputError(
        `${ref}: invalid JSON (${(err as Error).message}); the input is one JSON body, or NDJSON with one body per line`,
      );
    }
    bodies.push(classify(value, ref));
  });
  return bodies;
}

function classify(value: unknown, ref: string): InputBody {
  if (!isPlainObject(value)) throw new PreviewInputError(`${ref}: not a JSON object; ${SHAPES_EXPECTED}`);
  if ('events' in value) return { ref, shape: 'amplitude', body: value };
  if ('batch' in value) return { ref, shape: 'segment-batch', body: value };
  if (typeof value.type === 'string' && (SEGMENT_TYPES as readonly string[]).includes(value.type)) {
    return { ref, shape: 'segment-call', body: value };
  }
  const what =
    'type' in value ? `"type": ${JSON.stringify(value.type)} is no Segment call type` : 'no known shape';
  throw new PreviewInputError(`${ref}: ${what}; ${SHAPES_EXPECTED}`);
}
