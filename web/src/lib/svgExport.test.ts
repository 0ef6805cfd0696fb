import { describe, expect, it } from 'vitest';
import { escapeXml, serializeSvg, type SvgNodeLike } from './svgExport';

const text = (value: string): SvgNodeLike => ({ nodeType: 3, nodeName: '#text', nodeValue: value, childNodes: [] });
const el = (name: string, attrs: Record<string, string>, kids: SvgNodeLike[] = []): SvgNodeLike => ({
  nodeType: 1,
  nodeName: name,
  attributes: Object.entries(attrs).map(([n, value]) => ({ name: n, value })),
  childNodes: kids,
});

const EVIL = '<img src=x onerror=alert(1)>';

describe('SVG export', () => {
  it('escapes the five XML specials', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
  });

  it('writes an untrusted token as text, never as markup', () => {
    const svg = el('svg', { viewBox: '0 0 10 10' }, [el('g', {}, [el('text', { x: '1', 'aria-label': EVIL }, [text(EVIL)])])]);
    const out = serializeSvg(svg);
    expect(out).not.toContain('<img');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;</text>');
    expect(out).toContain(`aria-label="&lt;img src=x onerror=alert(1)&gt;"`);
    // Exactly the elements we built, and the text back intact after un-escaping.
    expect(out.match(/<[a-z]+[\s>]/g)).toEqual(['<svg ', '<g>', '<text ']);
    const inner = out.match(/<text[^>]*>(.*)<\/text>/)![1];
    expect(inner.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')).toBe(EVIL);
  });

  it('drops class, style, data-* and event-handler attributes and outside links, and inlines the given style', () => {
    const svg = el('svg', { class: 'chart', width: '5' }, [
      el('rect', { class: 'raw', onclick: 'alert(1)', 'data-x': '1', style: 'fill:red', width: '3' }),
      el('use', { href: 'https://example.com/x.svg#a' }),
      el('use', { href: '#local' }),
    ]);
    const out = serializeSvg(svg, (n): Record<string, string> => (n.nodeName === 'rect' ? { fill: 'rgb(1, 2, 3)', 'font-family': '"Mono", x' } : {}), {
      attributes: { width: '100', height: '50' },
      prepend: '<rect fill="#fff"></rect>',
    });
    expect(out).toContain('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50">');
    expect(out).not.toMatch(/class=|onclick|data-x|fill:red|example\.com/);
    expect(out).toContain(`<rect width="3" style="fill:rgb(1, 2, 3);font-family:&apos;Mono&apos;, x"></rect>`);
    expect(out).toContain('<use href="#local"></use>');
    expect(out.indexOf('<rect fill="#fff">')).toBeLessThan(out.indexOf('<rect width="3"'));
  });

  it('skips elements with names that are not plain XML names', () => {
    const out = serializeSvg(el('svg', {}, [el('x><script', {}, [text('bad')]), text('ok')]));
    expect(out).not.toContain('script');
    expect(out).toContain('>ok</svg>');
  });
});
