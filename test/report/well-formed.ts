/** Parses SVG text as XML and stops at the first warning or error: a picture a browser will open. */
import { DOMParser, onWarningStopParsing, type Document, type Element } from '@xmldom/xmldom';

export function parseSvg(text: string): Document {
  const doc = new DOMParser({ onError: onWarningStopParsing }).parseFromString(text, 'image/svg+xml');
  if (doc.documentElement?.nodeName !== 'svg')
    throw new Error(`not an SVG: <${doc.documentElement?.nodeName}>`);
  return doc;
}

export const elements = (doc: Document, tag: string): Element[] =>
  Array.from(doc.getElementsByTagName(tag) as unknown as ArrayLike<Element>);
