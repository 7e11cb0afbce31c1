/** Positional reads on a file: what the safetensors reader and the slicer need of it. */
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

/** What the reader needs of a file: its size and positional reads. Tests wrap it to count bytes. */
export interface RandomAccessFile {
  readonly size: number;
  /** Read up to `into.length` bytes at `position`; resolves to the count read (0 at end of file). */
  read(into: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/** What a path is when it is not a regular file, for messages. */
export function fileKind(st: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  return st.isDirectory()
    ? 'a directory'
    : st.isFIFO()
      ? 'a FIFO'
      : st.isSocket()
        ? 'a socket'
        : st.isCharacterDevice() || st.isBlockDevice()
          ? 'a device'
          : 'a special file';
}

/**
 * Open `path` for positional reads: a regular file only. Opening a FIFO waits for a
 * writer (forever), and a device such as /dev/zero never ends, so the path is looked at
 * first, and opened non-blocking in case it is swapped for a FIFO in between.
 */
export async function openFile(path: string): Promise<RandomAccessFile> {
  const before = await stat(path);
  if (!before.isFile()) throw new Error(`it is ${fileKind(before)}, not a regular file`);
  const handle: FileHandle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`it is ${fileKind(st)}, not a regular file`);
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
