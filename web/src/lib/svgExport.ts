// Chart export: a chart's SVG as a standalone file (computed styles inlined, since the page's CSS and its colour
// variables do not travel with the file), and as PNG by drawing that file onto a canvas. The serializer writes
// every text node and attribute value escaped: token texts in charts are untrusted, and an exported file must not
// turn them into markup.

/** A standalone SVG file and its size (what the export buttons save, and draw as PNG). */
export interface SvgDoc {
  text: string;
  width: number;
  height: number;
}

/** The page's colours (background, text, muted text, accent) for diagrams drawn from data rather than from the page. */
export function pageTheme(): { background: string; foreground: string; muted: string; accent: string } {
  const style = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    background: style.backgroundColor || '#ffffff',
    foreground: style.color || '#1f2328',
    muted: v('--muted', '#59636e'),
    accent: v('--accent', '#2f6fdf'),
  };
}

/** The parts of a DOM node the serializer reads (an Element or Text node satisfies it). */
export interface SvgNodeLike {
  nodeType: number;
  nodeName: string;
  nodeValue?: string | null;
  attributes?: ArrayLike<{ name: string; value: string }>;
  childNodes: ArrayLike<SvgNodeLike>;
}

const ELEMENT = 1;
const TEXT = 3;

/** Presentation properties inlined from the computed style of each element. */
export const STYLE_PROPERTIES = [
  'fill',
  'fill-opacity',
  'stroke',
  'stroke-width',
  'stroke-dasharray',
  'stroke-opacity',
  'opacity',
  'font-family',
  'font-size',
  'font-weight',
  'text-anchor',
  'dominant-baseline',
  'visibility',
];

/** Escapes text for an XML text node or a double-quoted attribute value. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Element and attribute names pass through only when they are plain XML names (a guard, not a sanitizer). */
const NAME = /^[A-Za-z_][\w.:-]*$/;

/** What the root element gets besides its own: attributes that replace its own, and markup put first inside it. */
export interface RootExtras {
  attributes?: Record<string, string>;
  /** Trusted markup written by the caller (a background rectangle), never model text. */
  prepend?: string;
}

/**
 * Serializes an SVG subtree. `style(node)` gives the declarations to inline for an element (from its computed
 * style on the page); attributes that refer to the page's CSS (class, data-*, event handlers) are dropped.
 */
export function serializeSvg(
  root: SvgNodeLike,
  style: (node: SvgNodeLike) => Record<string, string> = () => ({}),
  extras: RootExtras = {},
): string {
  const out: string[] = [];
  const walk = (node: SvgNodeLike, top: boolean) => {
    if (node.nodeType === TEXT) {
      out.push(escapeXml(node.nodeValue ?? ''));
      return;
    }
    if (node.nodeType !== ELEMENT) return;
    const name = node.nodeName;
    if (!NAME.test(name)) return;
    out.push(`<${name}`);
    const replaced = top ? (extras.attributes ?? {}) : {};
    if (top) {
      out.push(' xmlns="http://www.w3.org/2000/svg"');
      for (const [k, v] of Object.entries(replaced)) if (NAME.test(k)) out.push(` ${k}="${escapeXml(v)}"`);
    }
    for (const a of Array.from(node.attributes ?? [])) {
      const n = a.name.toLowerCase();
      if (a.name in replaced) continue;
      if (!NAME.test(a.name) || n === 'class' || n === 'style' || n === 'xmlns' || n.startsWith('on') || n.startsWith('data-')) continue;
      if ((n === 'href' || n === 'xlink:href') && !a.value.startsWith('#')) continue;
      out.push(` ${a.name}="${escapeXml(a.value)}"`);
    }
    const decls = Object.entries(style(node))
      .filter(([k, v]) => NAME.test(k) && v !== '')
      .map(([k, v]) => `${k}:${v.replace(/"/g, "'").replace(/[;<>]/g, '')}`)
      .join(';');
    if (decls) out.push(` style="${escapeXml(decls)}"`);
    out.push('>');
    if (top && extras.prepend) out.push(extras.prepend);
    for (const child of Array.from(node.childNodes)) walk(child, false);
    out.push(`</${name}>`);
  };
  walk(root, true);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${out.join('')}\n`;
}

/** The SVG of a chart on the page, with its computed styles and the page's background behind it. */
export function svgFile(svg: SVGSVGElement): string {
  const view = svg.viewBox.baseVal;
  const width = view && view.width ? view.width : svg.clientWidth;
  const height = view && view.height ? view.height : svg.clientHeight;
  const background = getComputedStyle(document.body).backgroundColor || '#ffffff';
  const style = (node: SvgNodeLike) => {
    const computed = getComputedStyle(node as unknown as Element);
    const decls: Record<string, string> = {};
    for (const p of STYLE_PROPERTIES) decls[p] = computed.getPropertyValue(p);
    return decls;
  };
  const prepend = `<rect x="${view?.x ?? 0}" y="${view?.y ?? 0}" width="${width}" height="${height}" fill="${escapeXml(background)}"></rect>`;
  return serializeSvg(svg, style, { attributes: { width: String(width), height: String(height) }, prepend });
}

/** The size an exported SVG of `svg` has (its viewBox, else its box on the page). */
export function svgSize(svg: SVGSVGElement): { width: number; height: number } {
  const view = svg.viewBox.baseVal;
  return view && view.width ? { width: view.width, height: view.height } : { width: svg.clientWidth, height: svg.clientHeight };
}

/** Draws an SVG file onto a canvas `scale` times its size and gives it back as PNG. */
export async function svgToPng(svgText: string, width: number, height: number, scale = 2): Promise<Blob> {
  const url = URL.createObjectURL(new Blob([svgText], { type: 'image/svg+xml' }));
  try {
    const image = new Image();
    image.width = width;
    image.height = height;
    await new Promise<void>((resolve, reject) => {
      image.onload = () => resolve();
      image.onerror = () => reject(new Error('the chart could not be drawn as an image'));
      image.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = Math.ceil(width * scale);
    canvas.height = Math.ceil(height * scale);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas in this browser');
    ctx.scale(scale, scale);
    ctx.drawImage(image, 0, 0, width, height);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas gave no PNG'))), 'image/png'),
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}
