/**
 * `.plan` text assembled from pieces of other files, with a map back to them.
 *
 * Embedded plans are parsed by the `.plan` parser itself, so builders, templates and
 * files share one AST and one checker. The text it parses is synthetic: template parts
 * copied verbatim from a `.ts` file, values generated from object literals, keywords and
 * `=` signs added. Each piece remembers where it came from; `span()` turns a span of the
 * synthetic text back into a span of the real file, exact inside verbatim pieces and the
 * whole origin for generated ones.
 */
import type { Span } from '../source.js';
import type { SourceFile } from '../source.js';

/** Where a piece of text is written in a real file: `file.text.slice(start, end)`. */
export interface Origin {
  file: SourceFile;
  start: number;
  end: number;
}

interface Piece {
  /** Offsets in the synthetic text. */
  from: number;
  to: number;
  origin: Origin;
  /** The piece is the origin's text, character for character. */
  verbatim: boolean;
}

export class MappedText {
  private parts: string[] = [];
  private pieces: Piece[] = [];
  private length = 0;

  /** Text copied from `origin` as it is written there (a template part, a number literal). */
  verbatim(text: string, origin: Origin): this {
    return this.push(text, origin, text === origin.file.text.slice(origin.start, origin.end));
  }

  /** Text that stands for `origin` without being its text (`plan` for a builder call, a quoted string). */
  generated(text: string, origin: Origin | undefined): this {
    return this.push(text, origin, false);
  }

  /** Separators with no origin of their own; a span starting in one maps to the end of the piece before. */
  plain(text: string): this {
    return this.push(text, undefined, false);
  }

  get text(): string {
    return this.parts.join('');
  }

  /** The real span of `[start, end)` in the synthetic text; undefined when nothing before it has an origin. */
  span(start: number, end: number): Span | undefined {
    const a = this.mapStart(start);
    if (!a) return undefined;
    let b = this.mapEnd(Math.max(end, start + 1));
    // A span cannot run from one file into another (a spread from an imported object): keep its first part.
    if (!b || b.file !== a.file || b.offset < a.offset) b = { file: a.file, offset: a.pieceEnd };
    return a.file.span(a.offset, Math.max(a.offset, b.offset));
  }

  private push(text: string, origin: Origin | undefined, verbatim: boolean): this {
    if (text.length === 0) return this;
    this.parts.push(text);
    if (origin) this.pieces.push({ from: this.length, to: this.length + text.length, origin, verbatim });
    this.length += text.length;
    return this;
  }

  /** The last piece starting at or before `offset`. */
  private pieceAt(offset: number): Piece | undefined {
    let lo = 0;
    let hi = this.pieces.length - 1;
    let found: Piece | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = this.pieces[mid]!;
      if (p.from <= offset) {
        found = p;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private mapStart(offset: number): { file: SourceFile; offset: number; pieceEnd: number } | undefined {
    const p = this.pieceAt(offset);
    if (!p)
      return (
        this.pieces[0] && { file: this.pieces[0].origin.file, offset: this.pieces[0].origin.start, pieceEnd: this.pieces[0].origin.end }
      );
    const o = p.origin;
    if (offset >= p.to) return { file: o.file, offset: o.end, pieceEnd: o.end };
    return { file: o.file, offset: p.verbatim ? o.start + (offset - p.from) : o.start, pieceEnd: o.end };
  }

  /** `end` is exclusive: it maps through the piece that holds the character before it. */
  private mapEnd(end: number): { file: SourceFile; offset: number } | undefined {
    const p = this.pieceAt(end - 1);
    if (!p) return undefined;
    const o = p.origin;
    if (end - 1 >= p.to) return { file: o.file, offset: o.end };
    return { file: o.file, offset: p.verbatim ? o.start + (end - p.from) : o.end };
  }
}
