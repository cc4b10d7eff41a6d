"""Pages written from the code at build time, so that nothing about a rule is written by hand.

* ``methods/<method>.rst`` and ``methods/index.rst``: one page per ``minimize`` method of
  :data:`numadam._options.METHODS` (and ``spsa``), from the rule registry
  (:data:`numadam.rules.VARIANTS`): the rule's ``DOC`` with its formula, the hyperparameters
  with their defaults and descriptions, the options every method shares
  (:data:`numadam._options.COMMON_OPTIONS`) and the package whose optimizer it matches (read
  from the rule module's docstring, "as ``torch.optim.Adam``").
* ``api/numadam.rst``: one autosummary entry (a page) per name of ``numadam.__all__``.
* ``gallery/<script>.rst``: each gallery script's docstring, its committed image(s) and its
  source (the scripts are not run at build time: the full runs take minutes).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shutil
import textwrap

REFERENCE = re.compile(r"``((?:torch\.optim|optax|schedulefree|noisyopt)[\w.]*)``")


def _write(path, text):
    """Write ``text`` unless the file already holds it (keeps Sphinx's incremental builds)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _title(text, char="="):
    return f"{text}\n{char * len(text)}\n"


def _escape(text):
    """Plain text (the option table's lines) as reStructuredText that shows it verbatim."""
    for char in "\\*|`_":
        text = text.replace(char, "\\" + char)
    return text


def _option_table(rows):
    """A list-table from ``(name, default, description)`` rows."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 20 20 60", "",
             "   * - option", "     - default", "     - meaning"]
    for name, default, doc in rows:
        lines += [f"   * - ``{name}``", f"     - ``{default!r}``", f"     - {_escape(doc)}"]
    return "\n".join(lines) + "\n"


#: How closely numadam follows each reference package, and the test that checks it (the
#: numerics guide's table; it runs when the package is installed: the parity extra).
AGREEMENT = {
    "torch.optim": "within 1e-12 relative in float64 over 150 steps, against "
                   "``foreach=False`` (``tests/test_torch_parity.py``)",
    "optax": "bitwise, in float32 and float64 (``tests/test_optax_parity.py``)",
    "schedulefree": "within 1e-12 at both the train and the eval point, against "
                    "``foreach=False`` (``tests/test_schedulefree.py``)",
    "noisyopt": "the same iterates bit for bit in one variable and with bounds "
                "(``tests/test_spsa.py``)",
}


def _agreement(reference):
    return next(text for package, text in AGREEMENT.items() if reference.startswith(package))


def _reference_of(variant):
    """The package function or class the rule reproduces, from its module's docstring."""
    module = importlib.import_module(f"numadam.rules.{variant.rule.name}")
    found = REFERENCE.findall((variant.doc or "") + variant.rule.doc + (module.__doc__ or ""))
    return found[0] if found else None


def method_pages():
    """``{relative path: text}`` of the method pages."""
    from numadam import _options
    from numadam.rules import VARIANTS

    variants = {v.method: v for v in VARIANTS if v.method is not None}
    common = [(name, _options.OPTION_DEFAULTS.get(name), text)
              for name, text in _options.COMMON_OPTIONS.items()]
    pages, rows = {}, []
    for method in [*_options.METHODS, _options.SPSA]:
        hyper = _options.hyperparameters_of(method)
        if method == _options.SPSA:
            summary = ("Spall's simultaneous perturbation stochastic approximation: SGD "
                       "along ``jac='spsa'``'s estimate with the gain ``a_k``.")
            body = textwrap.dedent(_options.__doc__.split("SPSA\n----\n", 1)[1])
            reference, runs = "noisyopt.minimizeSPSA", ":class:`numadam.SGD`"
            fixed = {}
        else:
            variant = variants[method]
            cls, fixed = _options.METHODS[method]
            doc = inspect.cleandoc(variant.doc or variant.rule.doc)
            summary = " ".join(doc.split("\n\n", 1)[0].split())
            body = doc
            reference = _reference_of(variant)
            runs = f":class:`numadam.{cls.__name__}`"
        settings = ", ".join(f"``{k}={v!r}``" for k, v in fixed.items())
        lines = [f".. _method-{method}:", "", _title(f'method="{method}"'),
                 ".. currentmodule:: numadam", "",
                 body, "",
                 f"Runs {runs}" + (f" with {settings} fixed" if settings else "") + "; "
                 f"SciPy entry point :func:`numadam.{method}` "
                 f"(``scipy.optimize.minimize(fun, x0, method=numadam.{method})``).", ""]
        if reference:
            lines += [f"Matches ``{reference}``: {_agreement(reference)} (see "
                      ":doc:`/guides/numerics`).", ""]
        lines += [_title("Hyperparameters", "-"),
                  _option_table([(k, d, doc) for k, (d, doc) in hyper.items()]),
                  _title("Options shared by every method", "-"),
                  _option_table(common),
                  _title("Example", "-"), "::", "",
                  f"    numadam.minimize(fun, x0, jac=grad, method={method!r},",
                  "                     options={\"maxiter\": 1000})", ""]
        pages[f"methods/{method}.rst"] = "\n".join(lines)
        rows.append((method, summary, reference))
    index = [_title("minimize methods"),
             "Every ``method=`` of :func:`numadam.minimize` and :func:`numadam.minimize_batch`, "
             "one page each, written from the rule registry (:mod:`numadam.rules`) when the "
             "documentation is built. :func:`numadam.show_options` prints the same options.", "",
             ".. list-table::", "   :header-rows: 1", "   :widths: 20 55 25", "",
             "   * - method", "     - rule", "     - matches"]
    for method, summary, reference in rows:
        index += [f"   * - :doc:`{method}`", f"     - {summary}",
                  f"     - ``{reference}``" if reference else "     - (numadam's own)"]
    index += ["", ".. toctree::", "   :hidden:", ""] + [f"   {m}" for m, _, _ in rows]
    pages["methods/index.rst"] = "\n".join(index) + "\n"
    return pages


def api_page():
    import numadam

    lines = [_title("numadam"), ".. automodule:: numadam", "   :no-members:", "",
             ".. currentmodule:: numadam", "",
             "Every name of ``numadam.__all__``, one page each.", "",
             ".. autosummary::", "   :toctree: generated", ""]
    lines += [f"   {name}" for name in numadam.__all__]
    return "\n".join(lines) + "\n"


def _markdown_to_rst(text):
    """gallery/README.md's paragraphs as reStructuredText: code spans, bold, images."""
    out = []
    for line in text.splitlines():
        image = re.fullmatch(r"!\[(.*)\]\(images/(\w+\.png)\)", line.strip())
        if image:
            out += [f".. image:: /_gallery_images/{image.group(2)}",
                    f"   :alt: {image.group(1)}", ""]
            continue
        parts = re.split(r"(`[^`]+`|\*\*[^*]+\*\*)", line)
        for i, part in enumerate(parts):
            if part.startswith("`"):
                parts[i] = f"``{part[1:-1]}``"
            elif not part.startswith("**"):
                parts[i] = re.sub(r"([*|_\\])", r"\\\1", part)
        out.append("".join(parts))
    return "\n".join(out).strip() + "\n"


def gallery_commentary(gallery):
    """``{script name: [rst sections]}`` from gallery/README.md: each "## Title — `python
    gallery/<script>.py`" section (a "same script" one goes with the one before)."""
    with open(os.path.join(gallery, "README.md"), encoding="utf-8") as f:
        sections = re.split(r"^## ", f.read(), flags=re.M)[1:]
    found, current = {}, None
    for section in sections:
        title, _, body = section.partition("\n")
        script = re.search(r"gallery/(\w+)\.py", title)
        if script:
            current = script.group(1)
        if current:
            heading = title.split(" — ")[0].strip()
            found.setdefault(current, []).append(
                _title(heading, "-") + "\n" + _markdown_to_rst(body))
    return found


def gallery_pages(root):
    """The gallery's pages from ``gallery/*.py``, its committed images and the commentary of
    gallery/README.md (the numbers of the full runs)."""
    gallery = os.path.join(root, "gallery")
    commentary = gallery_commentary(gallery)
    with open(os.path.join(gallery, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    scripts = sorted(f for f in os.listdir(gallery) if f.endswith(".py") and f[0] != "_")
    pages, names = {}, []
    for script in scripts:
        name = script[:-3]
        with open(os.path.join(gallery, script), encoding="utf-8") as f:
            source = f.read()
        doc = inspect.cleandoc(re.match(r'\s*(?:r)?"""(.*?)"""', source, re.S).group(1))
        # the title: the README's heading for the script, else the docstring's first paragraph
        titles = re.findall(r"^## (.+?) — `python gallery/" + name + r"\.py`", readme, re.M)
        title = titles[0] if titles else " ".join(doc.split("\n\n")[0].split()).rstrip(".")
        lines = [f".. _gallery-{name}:", "", _title(title), doc, ""]
        if name in commentary:  # the README's sections show the images
            lines += commentary[name]
        else:
            for image in dict.fromkeys(re.findall(r"images/(\w+\.png)", doc)):
                lines += [f".. image:: /_gallery_images/{image}", f"   :alt: {image}", ""]
        lines += [_title("Source", "-"),
                  f":download:`Download {script} <../../gallery/{script}>` (it imports "
                  f":download:`_common.py <../../gallery/_common.py>` from its folder).", "",
                  f".. literalinclude:: ../../gallery/{script}", "   :language: python", ""]
        pages[f"gallery/{name}.rst"] = "\n".join(lines)
        names.append(name)
    index = [_title("Gallery"),
             "What each optimizer does, in pictures, and the claims made for Adam put to the "
             "test. The images are the committed ones, made by the full runs of each script "
             "(``python -m numadam gallery``); the scripts are not run when the documentation "
             "is built. Each page has the script's commentary and numbers from "
             "``gallery/README.md``.", "",
             ".. toctree::", "   :maxdepth: 1", ""] + [f"   {n}" for n in names]
    pages["gallery/index.rst"] = "\n".join(index) + "\n"
    return pages


def public_modules():
    """The public submodules of numadam (no leading underscore), sorted."""
    import pkgutil

    import numadam

    return sorted(f"numadam.{m.name}" for m in pkgutil.iter_modules(numadam.__path__)
                  if not m.name.startswith("_"))


def module_pages():
    import numadam

    pages = {}
    modules = public_modules()
    for module in modules:
        # What numadam itself exports has its page under that name (api/numadam.rst)
        mod = importlib.import_module(module)
        exported = [name for name in getattr(mod, "__all__", dir(mod))
                    if name in numadam.__all__]
        lines = [_title(f"``{module}``"), f".. automodule:: {module}", "   :members:"]
        if module.rpartition(".")[2] in numadam.__all__:  # its page under generated/ indexes it
            lines.append("   :no-index:")
        if exported:
            lines.append(f"   :exclude-members: {', '.join(exported)}")
        if exported:
            lines += ["", "Also here, documented under :mod:`numadam`: " + ", ".join(
                f":obj:`numadam.{name}`" for name in exported) + "."]
        pages[f"api/{module}.rst"] = "\n".join(lines) + "\n"
    index = [_title("API reference"),
             "Generated from the code: the package's public names (``numadam.__all__``), "
             "then every public submodule.", "",
             ".. toctree::", "   :maxdepth: 1", "", "   numadam"]
    index += [f"   {m}" for m in modules]
    pages["api/index.rst"] = "\n".join(index) + "\n"
    return pages


def generate(app):
    srcdir = str(app.srcdir)
    root = os.path.dirname(srcdir)
    pages = {**method_pages(), "api/numadam.rst": api_page(), **module_pages(),
             **gallery_pages(root)}
    for stale_dir in ("methods", "gallery", "api"):  # a removed rule or script loses its page
        folder = os.path.join(srcdir, stale_dir)
        if os.path.isdir(folder):
            for f in os.listdir(folder):
                if f.endswith(".rst") and f"{stale_dir}/{f}" not in pages:
                    os.remove(os.path.join(folder, f))
    for rel, text in pages.items():
        _write(os.path.join(srcdir, rel), text)
    images = os.path.join(srcdir, "_gallery_images")
    shutil.copytree(os.path.join(root, "gallery", "images"), images, dirs_exist_ok=True)
    # Sphinx listed the source files before this hook ran, and autosummary makes its stubs
    # from that list: on a clean checkout the pages just written would get none
    app.env.find_files(app.config, app.builder)


def scipy_options_section(app, what, name, obj, options, lines):
    """numadam.adam & co. list their options under SciPy's "Options" heading, which numpydoc
    does not know: present them as "Other Parameters" (before numpydoc reads the docstring)."""
    if name.startswith("numadam.") and "Options" in lines:
        i = lines.index("Options")
        if i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:
            options = []
            for line in lines[i + 2:]:  # "name : text" lines, plain text (show_options')
                name, sep, text = line.partition(" : ")
                options += [name, "    " + _escape(text)] if sep else [_escape(line)]
            lines[i:] = ["Other Parameters", "----------------", *options]


def setup(app):
    app.connect("builder-inited", generate, priority=100)  # before autosummary's stubs
    app.connect("autodoc-process-docstring", scipy_options_section, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
