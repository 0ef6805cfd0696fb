// The speculative lanes and the branch tree as standalone SVG files. On the page both are HTML (buttons, lists), so
// their export draws them again from the same data: a layout (boxes and rows, tested on its own) and a renderer that
// writes every token text through escapeXml. Token text is untrusted: it only ever becomes an escaped text node or
// attribute value, never markup.
import { children, nodeText, type BranchTree, type ParentId } from './branchTree';
import { SPEC_COLORS, SPEC_NAMES } from './colors';
import { visibleToken } from './format';
import { isMultiDraft, laneCells, multiColumns, type Round } from './spec';
import { escapeXml, type SvgDoc } from './svgExport';

/** The colours an exported diagram is drawn in (the page's theme, or these light defaults). */
export interface Theme {
  background: string;
  foreground: string;
  muted: string;
  accent: string;
}

export const LIGHT: Theme = { background: '#ffffff', foreground: '#1f2328', muted: '#59636e', accent: '#2f6fdf' };

const FONT = 'ui-monospace, Menlo, Consolas, monospace';
/** Width of one character at the 12px monospace font the diagrams use (an estimate: no text metrics here). */
const CHAR = 7.3;
const PAD = 4;
const CELL_H = 24;
const GAP = 3;
/** Longest token text drawn in a cell; longer ones end in "…". */
const MAX_CHARS = 24;

/** A token's text as a cell shows it: invisible characters made visible, long texts cut. */
export function cellText(text: string, max = MAX_CHARS): string {
  const chars = Array.from(visibleToken(text));
  return chars.length > max ? chars.slice(0, max - 1).join('') + '…' : chars.join('');
}

const textWidth = (text: string) => Array.from(text).length * CHAR;

/** One box of the lanes diagram: a draft or candidate (with q and p), or a token the target drew itself. */
export interface LaneBox {
  x: number;
  y: number;
  w: number;
  kind: keyof typeof SPEC_COLORS;
  text: string;
  q?: number;
  p?: number;
  /** What the box's tooltip says. */
  title: string;
}

/** A verification round's row: its label, its boxes, and (multi-draft) the frames around each token's candidates. */
export interface Lane {
  round: number;
  y: number;
  height: number;
  label: string;
  boxes: LaneBox[];
  frames: { x: number; y: number; w: number; h: number }[];
}

export interface LanesLayout {
  width: number;
  height: number;
  multi: boolean;
  /** The line above the legend. */
  heading: string;
  lanes: Lane[];
}

const HEADER_H = 44;

const legendWidth = () => SPEC_NAMES.reduce((w, n) => w + textWidth(n.label) + 2 * PAD + GAP, PAD);
const roundLabel = (r: Round) => `call ${r.round + 1}${r.beta !== null ? `  β ${r.beta.toFixed(2)}` : ''}`;
const percent = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Where every lane, box and frame goes: lanes stacked from the top, boxes left to right in the page's order. */
export function lanesLayout(rounds: Round[]): LanesLayout {
  const multi = rounds.some((r) => isMultiDraft(r.emitted));
  const heading = multi
    ? 'one lane per target call; a column per emitted token with the candidates K-SEQ checked'
    : 'one lane per target call; under a draft: q (draft, upper bar) and p (target, lower bar)';
  const labelWidth = Math.max(60, ...rounds.map((r) => textWidth(roundLabel(r)) + 2 * PAD));
  let y = HEADER_H;
  let width = Math.max(textWidth(heading) + 2 * PAD, legendWidth());
  const lanes: Lane[] = [];
  for (const r of rounds) {
    const label = roundLabel(r);
    const boxes: LaneBox[] = [];
    const frames: Lane['frames'] = [];
    let x = labelWidth;
    let height = CELL_H;
    const box = (bx: number, by: number, kind: LaneBox['kind'], text: string, title: string, qp?: { q: number; p: number }): LaneBox => {
      const shown = cellText(text);
      return { x: bx, y: by, w: textWidth(shown) + 2 * PAD, kind, text: shown, title, ...qp };
    };
    if (multi) {
      for (const col of multiColumns(r)) {
        const stack: LaneBox[] = [];
        let cy = y + GAP;
        for (const c of col.check?.candidates ?? []) {
          const title = `${visibleToken(c.text)} (draft ${c.draft + 1}): ${c.outcome}; q ${percent(c.q)}, p ${percent(c.p)}`;
          stack.push(box(x + GAP, cy, c.outcome, c.text, title, { q: c.q, p: c.p }));
          cy += CELL_H + GAP;
        }
        if (col.source !== 'accepted') {
          stack.push(box(x + GAP, cy, col.source, col.text, `${visibleToken(col.text)}: ${col.source}`));
          cy += CELL_H + GAP;
        }
        const w = Math.max(...stack.map((b) => b.w)) + 2 * GAP;
        for (const b of stack) b.w = w - 2 * GAP;
        frames.push({ x, y, w, h: cy - y });
        boxes.push(...stack);
        height = Math.max(height, cy - y);
        x += w + GAP;
      }
    } else {
      for (const c of laneCells(r)) {
        const d = c.draft;
        const title = d
          ? `${visibleToken(c.text)}: ${c.kind}; q ${percent(d.q)}, p ${percent(d.p)}`
          : `${visibleToken(c.text)}: ${c.kind}`;
        const b = box(x, y, c.kind, c.text, title, d ? { q: d.q, p: d.p } : undefined);
        boxes.push(b);
        x += b.w + GAP;
      }
    }
    lanes.push({ round: r.round, y, height, label, boxes, frames });
    width = Math.max(width, x + PAD);
    y += height + 2 * GAP;
  }
  return { width: Math.ceil(width), height: Math.ceil(y + PAD), multi, heading, lanes };
}

/** Escaped attribute value. */
const a = (v: string | number) => escapeXml(String(v));

function open(width: number, height: number, theme: Theme, label: string): string[] {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${a(label)}" font-family="${a(FONT)}" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="${a(theme.background)}"></rect>`,
  ];
}

/** The lanes of a speculate run as an SVG file: a legend, then one row per target call as the page shows it. */
export function lanesSvg(rounds: Round[], theme: Theme = LIGHT): SvgDoc {
  const layout = lanesLayout(rounds);
  const out = open(layout.width, layout.height, theme, 'speculative decoding: one lane per target call');
  out.push(`<text x="${PAD}" y="14" fill="${a(theme.foreground)}">${escapeXml(layout.heading)}</text>`);
  let lx = PAD;
  for (const n of SPEC_NAMES) {
    const w = textWidth(n.label) + 2 * PAD;
    out.push(`<rect x="${lx}" y="22" width="${w}" height="16" rx="3" fill="${a(SPEC_COLORS[n.key])}"></rect>`);
    out.push(`<text x="${lx + PAD}" y="34" fill="${a(theme.foreground)}">${escapeXml(n.label)}</text>`);
    lx += w + GAP;
  }
  for (const lane of layout.lanes) {
    out.push('<g>');
    out.push(`<text x="${PAD}" y="${lane.y + 16}" fill="${a(theme.muted)}">${escapeXml(lane.label)}</text>`);
    for (const f of lane.frames) {
      out.push(`<rect x="${f.x}" y="${f.y}" width="${f.w}" height="${f.h}" rx="4" fill="none" stroke="${a(theme.muted)}" stroke-width="0.75"></rect>`);
    }
    for (const b of lane.boxes) {
      out.push('<g>');
      out.push(`<title>${escapeXml(b.title)}</title>`);
      out.push(`<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${CELL_H}" rx="3" fill="${a(SPEC_COLORS[b.kind])}"></rect>`);
      out.push(`<text x="${b.x + PAD}" y="${b.y + 15}" fill="${a(theme.foreground)}" xml:space="preserve">${escapeXml(b.text)}</text>`);
      if (b.q !== undefined && b.p !== undefined) {
        const inner = b.w - 2 * PAD;
        out.push(`<rect x="${b.x + PAD}" y="${b.y + 18}" width="${(inner * b.q).toFixed(1)}" height="2" fill="${a(theme.muted)}"></rect>`);
        out.push(`<rect x="${b.x + PAD}" y="${b.y + 21}" width="${(inner * b.p).toFixed(1)}" height="2" fill="${a(theme.foreground)}"></rect>`);
      }
      out.push('</g>');
    }
    out.push('</g>');
  }
  out.push('</svg>');
  return { text: out.join('\n') + '\n', width: layout.width, height: layout.height };
}

/** One row of the branch tree diagram: a run, indented by its depth under the root. */
export interface TreeRow {
  id: ParentId;
  depth: number;
  /** Row of the parent (-1 for the root). */
  parentRow: number;
  /** "fork at step 3", "sample 2", the root's label. */
  where: string;
  /** The alternative a fork continues with, as the page shows it ('' for none). */
  alt: string;
  text: string;
  selected: boolean;
}

const ROW_H = 22;
const INDENT = 18;
const TEXT_CHARS = 80;

/** The tree's rows in the page's order (depth first, children in the order they were made). */
export function treeRows(tree: BranchTree, rootLabel: string, rootText: string, selected: ParentId): TreeRow[] {
  const rows: TreeRow[] = [{ id: 'root', depth: 0, parentRow: -1, where: rootLabel, alt: '', text: rootText ? cellText(rootText, TEXT_CHARS) : '', selected: selected === 'root' }];
  const walk = (parent: ParentId, parentRow: number, depth: number) => {
    for (const n of children(tree, parent)) {
      const where = n.forced ? `fork at step ${n.at}${n.sample > 0 ? `, sample ${n.sample + 1}` : ''}` : `sample ${n.sample + 1}`;
      const own = nodeText(n).slice(n.forced?.text.length ?? 0);
      rows.push({ id: n.id, depth, parentRow, where, alt: n.forced ? cellText(n.forced.text) : '', text: cellText(own, TEXT_CHARS), selected: selected === n.id });
      walk(n.id, rows.length - 1, depth + 1);
    }
  };
  walk('root', 0, 1);
  return rows;
}

/** The branch tree as an SVG file: a row per run, joined to its parent, the selected run outlined. */
export function treeSvg(rows: TreeRow[], theme: Theme = LIGHT): SvgDoc {
  const top = 22;
  const rowX = (r: TreeRow) => PAD + r.depth * INDENT;
  const whereW = (r: TreeRow) => textWidth(r.where) + PAD;
  const altW = (r: TreeRow) => (r.alt ? textWidth(r.alt) + 2 * PAD + PAD : 0);
  const heading = "runs (a fork continues its parent's tokens before the step with another candidate)";
  const width = Math.ceil(Math.max(textWidth(heading) + 2 * PAD, ...rows.map((r) => rowX(r) + whereW(r) + altW(r) + textWidth(r.text) + 3 * PAD)));
  const height = top + rows.length * ROW_H + PAD;
  const out = open(width, height, theme, 'branch tree: the runs and their forks');
  out.push(`<text x="${PAD}" y="14" fill="${a(theme.foreground)}">${escapeXml(heading)}</text>`);
  rows.forEach((r, i) => {
    const y = top + i * ROW_H;
    const x = rowX(r);
    if (r.parentRow >= 0) {
      const px = rowX(rows[r.parentRow]) + INDENT / 2;
      const py = top + r.parentRow * ROW_H + ROW_H - 3;
      out.push(`<path d="M${px} ${py} V${y + ROW_H / 2} H${x - 2}" fill="none" stroke="${a(theme.muted)}" stroke-dasharray="2 2"></path>`);
    }
    out.push('<g>');
    if (r.selected) {
      const w = whereW(r) + altW(r) + textWidth(r.text) + 2 * PAD;
      out.push(`<rect x="${x - 2}" y="${y + 1}" width="${w}" height="${ROW_H - 2}" rx="3" fill="none" stroke="${a(theme.accent)}" stroke-width="1.5"></rect>`);
    }
    let tx = x + PAD / 2;
    out.push(`<text x="${tx}" y="${y + 15}" fill="${a(theme.muted)}" font-size="10">${escapeXml(r.where)}</text>`);
    tx += whereW(r);
    if (r.alt) {
      out.push(`<rect x="${tx}" y="${y + 3}" width="${textWidth(r.alt) + 2 * PAD}" height="${ROW_H - 6}" rx="3" fill="rgba(255, 152, 0, 0.3)"></rect>`);
      out.push(`<text x="${tx + PAD}" y="${y + 15}" fill="${a(theme.foreground)}" font-weight="700" xml:space="preserve">${escapeXml(r.alt)}</text>`);
      tx += altW(r);
    }
    out.push(`<text x="${tx}" y="${y + 15}" fill="${a(theme.foreground)}" xml:space="preserve">${escapeXml(r.text)}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return { text: out.join('\n') + '\n', width, height };
}
