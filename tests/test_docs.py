"""The documentation builds with warnings as errors, and every page it promises is there.

Builds ``docs/`` once (``python -m sphinx -W -b html``, output in a temporary folder; the pages
written from the code land in docs/'s git-ignored folders, as in a normal build), then checks
the HTML: a page per name of ``numadam.__all__``, per public submodule and per ``minimize``
method, and no internal link (``href``/``src``, with its ``#fragment``) pointing nowhere.
Skips without Sphinx and the docs extra (``pip install -e ".[docs]"``).
"""

import html.parser
import pkgutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("pydata_sphinx_theme")

import numadam  # noqa: E402
from numadam import _options  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(ROOT / "docs"), str(out / "html")],
        capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    return out / "html"


def test_a_page_per_public_name(built):
    missing = [name for name in numadam.__all__
               if not (built / "api" / "generated" / f"numadam.{name}.html").is_file()]
    assert not missing


def test_a_page_per_public_module(built):
    modules = [m.name for m in pkgutil.iter_modules(numadam.__path__) if m.name[0] != "_"]
    assert "distributed" in modules and "functions" in modules
    missing = [m for m in modules if not (built / "api" / f"numadam.{m}.html").is_file()]
    assert not missing


def test_a_page_per_method(built):
    methods = [*_options.METHODS, _options.SPSA]
    missing = [m for m in methods if not (built / "methods" / f"{m}.html").is_file()]
    assert not missing
    page = (built / "methods" / "adamw.html").read_text(encoding="utf-8")
    assert "torch.optim.AdamW" in page and "weight_decay" in page and "0.01" in page
    assert "gtol" in page  # the shared options
    assert "optax.lion" in (built / "methods" / "lion.html").read_text(encoding="utf-8")


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in ("href", "src") and value and not (tag == "link" and name == "href"
                                                          and value.startswith("http")):
                self.links.append(value)


def broken_links(root):
    """``(pages parsed, ["page: link", ...])`` for the HTML under ``root``: relative ``href``
    and ``src`` targets that do not exist, and ``#fragments`` no ``id`` of their page holds."""
    root = root.resolve()
    pages = {}
    for path in root.rglob("*.html"):
        if "_static" in path.parts:  # the theme's templates, not pages
            continue
        parser = _Links()
        parser.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = parser
    broken = []
    for page, parser in pages.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(root)}: {link}")
            elif parts.fragment and target in pages and parts.fragment not in pages[target].ids:
                broken.append(f"{page.relative_to(root)}: {link} (no such anchor)")
    return pages, sorted(set(broken))


def test_no_broken_internal_links(built):
    pages, broken = broken_links(built)
    assert not broken, "\n".join(broken[:50])
    assert len(pages) > 60


def test_the_link_check_can_fail(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/page.html#here">ok</a><a href="sub/page.html#gone">no anchor</a>'
        '<img src="missing.png"><a href="https://example.org/x">external</a><p id="top"></p>'
        '<a href="#top">self</a><a href="#nowhere">self, broken</a>')
    (tmp_path / "sub" / "page.html").write_text('<h1 id="here">x</h1><a href="../">up</a>')
    pages, broken = broken_links(tmp_path)
    assert len(pages) == 2
    assert broken == ["index.html: #nowhere (no such anchor)", "index.html: missing.png",
                      "index.html: sub/page.html#gone (no such anchor)"]
