"""Metadata of one XML or HTML document, parsed with lxml.

`process` returns a summary of the document and emits one event through the host function
`host.emit` for every link (`href`/`src`) and every image without alternative text, so a host
can index them as they are found. A document that does not parse raises lxml's error, which the
host receives as the call's error; the instance stays ready for the next file.
"""
from collections import Counter

from lxml import etree, html
from pywasm import host

# Untrusted input: no entity expansion, no DTD or network access.
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def process(data: bytes) -> dict:
    if not data.strip():
        raise ValueError("empty file")
    kind = "html" if looks_like_html(data) else "xml"
    if kind == "html":
        root = html.document_fromstring(data)
    else:
        root = etree.fromstring(data, XML_PARSER)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    tags = Counter(etree.QName(e).localname for e in elements)
    links = 0
    for element in elements:
        for attribute in ("href", "src"):
            target = element.get(attribute)
            if target is not None:
                links += 1
                host.emit({"event": "link", "tag": tags_name(element), "target": target,
                           "line": element.sourceline})
        if tags_name(element) == "img" and not element.get("alt"):
            host.emit({"event": "image without alt", "line": element.sourceline})
    text = " ".join(root.itertext())
    return {
        "format": kind,
        "root": tags_name(root),
        "namespaces": sorted(ns for ns in {etree.QName(e).namespace for e in elements} if ns),
        "elements": len(elements),
        "depth": depth(root),
        "common tags": [tag for tag, _ in tags.most_common(3)],
        "title": title(root, kind),
        "words": len(text.split()),
        "links": links,
    }


def looks_like_html(data: bytes) -> bool:
    head = data.lstrip()[:256].lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def tags_name(element) -> str:
    return etree.QName(element).localname


def depth(root) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        element, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in element if isinstance(child.tag, str))
    return deepest


def title(root, kind: str):
    if kind == "html":
        found = root.findtext(".//title")
    else:
        found = next((e.text for e in root.iter() if isinstance(e.tag, str)
                      and tags_name(e) == "title"), None)
    return found.strip() if found else None
