"""MkDocs hook: render the Sphinx markup that docstrings use on the API pages.

The docstrings in ``rcc/`` and ``diffusion/`` write cross-references the Sphinx way
(``:func:`name```, ``:class:`~pkg.Name```, ...) and inline code with double backticks; Markdown
leaves the role prefix as raw text. This hook rewrites the HTML that mkdocstrings produced:

- ``:role:`target``` becomes ``target`` in code font, linked through mkdocs-autorefs when the
  target is a documented object (an *optional* autoref: unresolved targets stay plain code,
  without a warning). A target without its package (``unpack``) is tried under the package of
  the page (``rcc.unpack`` on ``api/rcc.md``); ``~a.b.c`` shows ``c``; ``title <target>`` shows
  ``title``.
- a double-backtick span left in the text becomes code (inside a code element or an attribute,
  the backticks are dropped).

Roles are rewritten on every page (a hand-written page that quotes a docstring gets the same
rendering), double-backtick spans only on pages with mkdocstrings output (elsewhere Markdown has
already made them code), and never inside ``<pre>`` blocks. The page's table of contents (the
side bar and the search index read it) loses the role prefixes too.
"""

from __future__ import annotations

import html
import re

_ROLE = r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const|term|ref|doc):"
# after Markdown: the role prefix as text, the target as a code span
_ROLE_CODE = re.compile(_ROLE + r"<code>(?P<target>[^<]*)</code>")
# still raw (the role was inside a code span or an attribute)
_ROLE_RAW = re.compile(_ROLE + r"`(?P<target>[^`]+)`")
_DOUBLE = re.compile(r"``(?P<text>[^`]+?)``")
_TAG = re.compile(r"(<[^>]*>)")


def _split(target: str) -> tuple[str, str]:
    """(shown text, identifier) of a Sphinx role target."""
    target = html.unescape(target).strip()
    m = re.fullmatch(r"(?P<title>.+?)\s*<(?P<ident>[^>]+)>", target)
    if m:
        return m["title"], m["ident"].lstrip("~.")
    ident = target.lstrip("~.")
    shown = ident.rsplit(".", 1)[-1] if target.startswith("~") else ident
    return shown, ident


def _link(target: str, package: str | None) -> str:
    shown, ident = _split(target)
    if package and not ident.startswith((package + ".", package + "(")) and ident != package:
        root = ident.split(".", 1)[0]
        if root not in ("rcc", "diffusion", "numpy", "np", "torch", "scipy"):
            ident = f"{package}.{ident}"
    return (f'<autoref identifier="{html.escape(ident.split("(")[0])}" optional>'
            f"<code>{html.escape(shown)}</code></autoref>")


def rewrite(text: str, package: str | None = None, double: bool = True) -> str:
    """The HTML ``text`` with Sphinx roles and (if ``double``) double-backtick spans rendered
    (see the module)."""
    text = _ROLE_CODE.sub(lambda m: _link(m["target"], package), text)
    sub_double = _DOUBLE.sub if double else (lambda repl, part: part)
    out, in_pre, in_code = [], 0, 0
    for part in _TAG.split(text):
        if part.startswith("<") and part.endswith(">"):
            low = part[:5].lower()
            if low.startswith("<pre"):
                in_pre += 1
            elif low.startswith("</pre"):
                in_pre = max(in_pre - 1, 0)
            elif low.startswith("<code"):
                in_code += 1
            elif low.startswith("</cod"):
                in_code = max(in_code - 1, 0)
            if not in_pre and "`" in part:  # attribute values (tooltips): plain text
                part = _ROLE_RAW.sub(lambda m: html.escape(_split(m["target"])[0], quote=True), part)
                part = sub_double(lambda m: m["text"], part)
            out.append(part)
            continue
        if in_pre or "`" not in part:
            out.append(part)
        elif in_code:
            part = _ROLE_RAW.sub(lambda m: _split(m["target"])[0], part)
            out.append(sub_double(lambda m: m["text"], part))
        else:
            part = _ROLE_RAW.sub(lambda m: _link(m["target"], package), part)
            out.append(sub_double(lambda m: f"<code>{m['text']}</code>", part))
    return "".join(out)


def _plain(text: str) -> str:
    """``text`` with every Sphinx role replaced by its shown text (for titles)."""
    text = _ROLE_CODE.sub(lambda m: html.escape(_split(m["target"])[0]), text)
    return _ROLE_RAW.sub(lambda m: html.escape(_split(m["target"])[0]), text)


def _clean_toc(items) -> None:
    for item in items:
        if getattr(item, "title", None) and ":" in item.title:
            item.title = _plain(item.title)
        _clean_toc(getattr(item, "children", ()))


def on_page_content(html_text: str, page, **kwargs) -> str:
    _clean_toc(getattr(page, "toc", ()) or ())
    if 'class="doc doc-' not in html_text:  # a hand-written page: roles only
        return rewrite(html_text, None, double=False) if ":" in html_text else html_text
    stem = page.file.src_uri.rsplit("/", 1)[-1].removesuffix(".md")
    return rewrite(html_text, stem if stem in ("rcc", "diffusion") else None)
