/** Positional reads on a file: what the safetensors reader and the slicer need of it. */
import { open, type FileHandle } from 'node:fs/promises';

/** What the reader needs of a file: its size and positional reads. Tests wrap it to count bytes. */
export interface RandomAccessFile {
  readonly size: number;
  /** Read up to `into.length` bytes at `position`; resolves to the count read (0 at end of file). */
  read(into: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/** Open `path` for positional reads. */
export async function openFile(path: string): Promise<RandomAccessFile> {
  const handle: FileHandle = await open(path, 'r');
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    return {
      size: st.size,
      read: async (into, position) => (await handle.read(into, 0, into.length, position)).bytesRead,
      close: () => handle.close(),
    };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** A file held in memory (tests, small embedded checkpoints). */
export function memoryFile(bytes: Uint8Array): RandomAccessFile {
  return {
    size: bytes.length,
    read: async (into, position) => {
      const n = Math.max(0, Math.min(into.length, bytes.length - position));
      into.set(bytes.subarray(position, position + n));
      return n;
    },
    close: async () => undefined,
  };
}

/** One read call at most this long (Node rejects lengths of 2 GiB and more). */
const MAX_READ = 1 << 30;

/** Fill `into` from `position`, looping over short reads; false if the file ends first. */
export async function readFully(file: RandomAccessFile, into: Uint8Array, position: number): Promise<boolean> {
  let done = 0;
  while (done < into.length) {
    const n = await file.read(into.subarray(done, Math.min(into.length, done + MAX_READ)), position + done);
    if (n <= 0) return false;
    done += n;
  }
  return true;
}
