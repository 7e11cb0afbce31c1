/**
 * A checkpoint of one or more safetensors files: plain files, a directory, or a
 * Hugging Face index (`model.safetensors.index.json`: `{ "weight_map": { NAME:
 * FILE } }`). With an index, a file is opened (its header read) only when one of
 * its tensors is needed, so a pipeline stage opens only the shards holding its
 * layers; without one, every file's header is read to learn its names.
 */
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { fileKind } from './file.js';
import { openSafetensors, SafetensorsError, type OpenOptions, type SafetensorsFile, type TensorEntry } from './safetensors.js';

export const INDEX_FILE = 'model.safetensors.index.json';
const MAX_INDEX_BYTES = 100_000_000;

/** A checkpoint that cannot be used as a whole: missing files, a bad index, a tensor in two files. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface Located {
  file: SafetensorsFile;
  entry: TensorEntry;
}

export interface Checkpoint {
  /** Every tensor name (from the indexes and the headers of the plain files). */
  readonly names: ReadonlySet<string>;
  /** Where `name` is: the file (opened on first use) and its entry; undefined when absent. */
  locate(name: string): Promise<Located | undefined>;
  /** The file that holds `name` (its path), without opening it. */
  fileOf(name: string): string | undefined;
  /** The paths the checkpoint was opened from, for messages. */
  readonly describe: string;
  close(): Promise<void>;
}

/** Open a checkpoint from safetensors files, directories and index files. */
export async function openCheckpoint(paths: readonly string[], options: OpenOptions = {}): Promise<Checkpoint> {
  if (paths.length === 0) throw new CheckpointError('no checkpoint files given');
  const where = new Map<string, string>(); // tensor name → file path
  const opened = new Map<string, Promise<SafetensorsFile>>();
  const openOnce = (path: string) => {
    let p = opened.get(path);
    if (p === undefined) {
      p = openSafetensors(path, options);
      p.catch(() => undefined);
      opened.set(path, p);
    }
    return p;
  };
  const add = (name: string, path: string, from: string) => {
    const prev = where.get(name);
    if (prev !== undefined && prev !== path)
      throw new CheckpointError(`tensor ${JSON.stringify(name)} is in both ${prev} and ${path} (${from})`);
    where.set(name, path);
  };
  try {
    const files: string[] = [];
    const indexes: string[] = [];
    for (const p of paths) {
      const st = await stat(p).catch((e: Error) => {
        throw new CheckpointError(`${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : e.message}`);
      });
      if (st.isDirectory()) {
        const entries = (await readdir(p)).sort();
        if (entries.includes(INDEX_FILE)) indexes.push(await confined(join(p, INDEX_FILE), p));
        else {
          const st = entries.filter((e) => e.endsWith('.safetensors'));
          if (st.length === 0) throw new CheckpointError(`${p}: no ${INDEX_FILE} and no .safetensors files in this directory`);
          for (const e of st) files.push(await confined(join(p, e), p));
        }
      } else if (p.endsWith('.json')) indexes.push(await regular(p));
      else files.push(await regular(p));
    }
    for (const index of indexes) {
      for (const [name, file] of await readIndex(index)) add(name, file, `index ${index}`);
    }
    for (const path of files) {
      const f = await openOnce(path);
      for (const name of f.tensors.keys()) add(name, path, 'file headers');
    }
  } catch (e) {
    await closeAll(opened);
    throw e;
  }
  const names = new Set(where.keys());
  return {
    names,
    describe: paths.join(', '),
    fileOf: (name) => where.get(name),
    locate: async (name) => {
      const path = where.get(name);
      if (path === undefined) return undefined;
      const file = await openOnce(path);
      const entry = file.tensors.get(name);
      if (entry === undefined)
        throw new SafetensorsError(path, `the index lists this tensor in ${basename(path)}, but the file does not have it`, name);
      return { file, entry };
    },
    close: () => closeAll(opened),
  };
}

/**
 * `path` when it is a regular file (symbolic links followed); else a CheckpointError naming
 * it. Reading a FIFO would wait for a writer forever, and a device never ends.
 */
async function regular(path: string): Promise<string> {
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new CheckpointError(`${path}: ${e.code === 'ENOENT' ? 'no such file (or a broken symbolic link)' : e.message}`);
  });
  if (!st.isFile()) throw new CheckpointError(`${path}: it is ${fileKind(st)}, not a regular file`);
  return path;
}

/**
 * `path` when it is a regular file whose real path (symbolic links resolved) is inside the
 * checkpoint directory `dir`; else a CheckpointError naming it. The path text alone does
 * not tell: a link inside the directory may point anywhere.
 */
async function confined(path: string, dir: string): Promise<string> {
  await regular(path);
  const [real, root] = await Promise.all([realpath(path), realpath(dir)]);
  if (!inside(root, real) && !inside(hubBlobs(root) ?? root, real)) {
    throw new CheckpointError(
      `${path}: a symbolic link to ${real}, outside the checkpoint directory ${root}; copy the file into the directory instead`,
    );
  }
  return path;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * A Hugging Face hub cache keeps a revision's files as links from
 * `models--ORG--NAME/snapshots/REV/` to `models--ORG--NAME/blobs/`: for such a directory,
 * that repository's `blobs` (and nothing else) counts as inside it.
 */
function hubBlobs(root: string): string | undefined {
  const snapshots = dirname(root);
  const repo = dirname(snapshots);
  return basename(snapshots) === 'snapshots' && basename(repo).startsWith('models--') ? join(repo, 'blobs') : undefined;
}

async function closeAll(opened: Map<string, Promise<SafetensorsFile>>): Promise<void> {
  await Promise.all([...opened.values()].map((p) => p.then((f) => f.close()).catch(() => undefined)));
}

/** The weight map of an index file, with each file resolved against the index's directory. */
export async function readIndex(path: string): Promise<Map<string, string>> {
  const fail = (problem: string): never => {
    throw new CheckpointError(`${path}: ${problem}`);
  };
  const st = await stat(path).catch((e: Error) => fail((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e.message));
  if (!st.isFile()) fail(`it is ${fileKind(st)}, not a regular file`);
  if (st.size > MAX_INDEX_BYTES) fail(`index is ${st.size} bytes, more than the limit of ${MAX_INDEX_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    fail(`not valid JSON: ${(e as Error).message}`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof json !== 'object' || json === null || typeof map !== 'object' || map === null || Array.isArray(map))
    fail('an index must be a JSON object with a "weight_map" object');
  const out = new Map<string, string>();
  const dir = dirname(path);
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || file === '') fail(`weight_map[${JSON.stringify(name)}] must be a file name`);
    const f = file as string;
    if (isAbsolute(f) || f.split(/[\\/]/).includes('..'))
      fail(`weight_map[${JSON.stringify(name)}] = ${JSON.stringify(f)} is outside the index's directory`);
    out.set(name, join(dir, f));
  }
  // Each shard must be a regular file whose real path stays in the index's directory.
  for (const file of new Set(out.values())) {
    const exists = await stat(file).then(
      () => true,
      (e: NodeJS.ErrnoException) => e.code !== 'ENOENT', // a missing shard is reported when one of its tensors is needed
    );
    if (exists) await confined(file, dir);
  }
  return out;
}
