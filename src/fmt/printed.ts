/**
 * Which tokens of the input the formatter prints itself. The others are re-created
 * from the structure (`,` between list items, the line breaks that replace `;`) or
 * dropped (the `=` of `key = { … }`, written `key { … }`); comments next to them
 * attach to the printed neighbours (trivia.ts).
 */
import type { IToken } from 'chevrotain';
import type { BlockCstNode, EntryCstNode, FileCstNode, ValueCstNode } from '../../grammar/cst.generated.js';
import { Comma, Semicolon } from '../../grammar/tokens.js';

export function printedTokens(tokens: readonly IToken[], cst: FileCstNode): IToken[] {
  const dropped = blockEquals(cst);
  return tokens.filter((t) => t.tokenType !== Semicolon && t.tokenType !== Comma && !dropped.has(t));
}

/** The `=` of every `key = { … }` entry. */
function blockEquals(cst: FileCstNode): Set<IToken> {
  const out = new Set<IToken>();
  const block = (b: BlockCstNode): void => (b.children.entry ?? []).forEach(entry);
  const entry = (e: EntryCstNode): void => {
    (e.children.block ?? []).forEach(block);
    const v = e.children.value?.[0];
    if (!v) return;
    const eq = e.children.Equals?.[0];
    if (eq && v.children.block) out.add(eq);
    value(v);
  };
  const value = (v: ValueCstNode): void => {
    (v.children.block ?? []).forEach(block);
    for (const l of v.children.list ?? []) (l.children.value ?? []).forEach(value);
  };
  for (const d of cst.children.declaration ?? []) (d.children.block ?? []).forEach(block);
  return out;
}
