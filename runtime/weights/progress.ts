/**
 * The weight loader's progress: a callback for callers, and a one-line bar on a
 * terminal that appears only once a load has taken longer than a second.
 */
import { decimalBytesText } from '../../src/format.js';

export interface LoadProgress {
  /** Bytes read from the checkpoint (or generated) so far, and in all. */
  bytesDone: number;
  bytesTotal: number;
  tensorsDone: number;
  tensorsTotal: number;
  elapsedMs: number;
  /** Average throughput so far. */
  bytesPerSecond: number;
  /** The weight just finished. */
  current?: string;
}

/** `weights [██████······]  45%  1.20 GB / 2.65 GB  850 MB/s  layers.3.mlp.up.weight` */
export function formatProgress(p: LoadProgress, width = 24): string {
  const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.tensorsTotal > 0 ? p.tensorsDone / p.tensorsTotal : 1;
  const filled = Math.round(frac * width);
  const bar = '█'.repeat(filled) + '·'.repeat(width - filled);
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  const rate = p.elapsedMs > 0 ? `${decimalBytesText(p.bytesPerSecond)}/s` : '';
  return `weights [${bar}] ${pct}  ${decimalBytesText(p.bytesDone)} / ${decimalBytesText(p.bytesTotal)}  ${rate}${p.current ? `  ${p.current}` : ''}`;
}

export interface BarStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  stream: BarStream;
  /** Show nothing until the load has run this long (default 1000 ms). */
  delayMs?: number;
  /** Redraw at most this often (default 100 ms). */
  intervalMs?: number;
  now?: () => number;
}

/** A progress line redrawn in place (`\r`), shown only once a load takes longer than `delayMs`. */
export class ProgressBar {
  private readonly stream: BarStream;
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastDraw = -Infinity;
  private shown = false;

  constructor(options: ProgressBarOptions) {
    this.stream = options.stream;
    this.delayMs = options.delayMs ?? 1000;
    this.intervalMs = options.intervalMs ?? 100;
    this.now = options.now ?? Date.now;
  }

  get visible(): boolean {
    return this.shown;
  }

  update(p: LoadProgress): void {
    if (p.elapsedMs < this.delayMs) return;
    const t = this.now();
    if (t - this.lastDraw < this.intervalMs) return;
    this.draw(p);
    this.lastDraw = t;
  }

  /** The final line (only if the bar was shown), ending the line. */
  finish(p: LoadProgress): void {
    if (!this.shown && p.elapsedMs < this.delayMs) return;
    this.draw({ ...p, current: `done in ${(p.elapsedMs / 1000).toFixed(1)} s` });
    this.stream.write('\n');
  }

  private draw(p: LoadProgress): void {
    let line = formatProgress(p);
    const cols = this.stream.columns;
    if (cols !== undefined && cols > 10 && line.length >= cols) line = line.slice(0, cols - 1);
    this.stream.write(`\r${line}\x1b[K`);
    this.shown = true;
  }
}
