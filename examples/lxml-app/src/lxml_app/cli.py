"""lxml in a WASI module: every file below is package data, and libxml2 reads several of them
itself, with C file I/O (the schema's include, the stylesheet, isoschematron's own XSL)."""

import sys
from importlib.resources import files

from lxml import etree, html, objectify
from lxml.isoschematron import Schematron

NS = {"c": "urn:example:catalog"}


def main():
    data = files("lxml_app") / "data"
    doc = etree.parse(str(data / "catalog.xml"))
    root = doc.getroot()

    print("books:", int(doc.xpath("count(//c:book)", namespaces=NS)))
    print("over 30:", doc.xpath("//c:book[c:price > 30]/c:title/text()", namespaces=NS))
    print("english:", [b.get("id") for b in root.iterfind("c:book[@lang='en']", NS)])
    print("authors:", ", ".join(a.text for a in root.iter("{urn:example:catalog}author")))

    report = etree.XSLT(etree.parse(str(data / "report.xsl")))
    print(str(report(doc, currency="'EUR'")).strip())

    schema = etree.XMLSchema(etree.parse(str(data / "catalog.xsd")))
    print("schema valid:", schema.validate(doc))
    bad = etree.fromstring(
        b'<catalog xmlns="urn:example:catalog"><book id="x1"><title>T</title>'
        b'<price currency="USD">cheap</price></book></catalog>'
    )
    print("bad valid:", schema.validate(bad))
    for error in schema.error_log:
        print(f"  line {error.line}: {error.type_name}")

    rules = Schematron(etree.parse(str(data / "rules.sch")), store_report=True)
    print("schematron valid:", rules.validate(doc))
    failed = rules.validation_report.getroot().iter("{http://purl.oclc.org/dsdl/svrl}failed-assert")
    print("schematron failures:", [f.findtext("{http://purl.oclc.org/dsdl/svrl}text").strip() for f in failed])

    page = html.parse(str(data / "page.html")).getroot()
    print("title:", page.findtext(".//title"))
    print("links:", [(a.text, a.get("href")) for a in page.iter("a")])
    print("heading:", page.find(".//h1").text_content())
    page.make_links_absolute("https://books.example/")
    print("absolute:", [a.get("href") for a in page.iter("a")])

    order = objectify.fromstring(b"<order><qty>3</qty><unit>2.5</unit><note>gift</note></order>")
    print("objectify:", order.qty * order.unit, order.note.text.upper(), type(order.qty).__name__)

    built = etree.Element("summary", count=str(len(root)))
    for book in root:
        etree.SubElement(built, "item", ref=book.get("id")).text = book.findtext("c:title", namespaces=NS)[:12]
    print(etree.tostring(built, pretty_print=True, encoding="unicode").strip())
    c14n = etree.tostring(etree.fromstring(b'<a z="1" b="2"><!-- x --><c/></a>'), method="c14n")
    print("c14n:", c14n.decode())

    try:
        etree.fromstring(b"<open><close></open>")
    except etree.XMLSyntaxError as e:
        print("syntax error at line", e.lineno)
        return 2
    return 0
