"""The Chinese edition's sources kept in step with the English ones: the notebooks' prose and
the checks' messages, each in a gettext catalogue (read and written with Babel).

The notebooks: notebooks/locale/zh/<stem>.po holds one message per markdown cell of
notebooks/<stem>.ipynb (msgctxt: the cell's id; msgid: its source; msgstr: the Chinese
Markdown). notebooks/<stem>.zh.ipynb is built from the two: the English notebook's cells in
their order with their ids, each markdown cell's translation, its code cells as they are,
and first one code cell that makes the checks speak Chinese. A code cell whose source is
unchanged keeps its stored outputs, so a change of prose needs no new run.

The checks: sse_lab/locale/sse_lab.pot is every message the package wraps in `_()` or
`N_()`, sse_lab/locale/zh/LC_MESSAGES/sse_lab.po their Chinese, compiled to a .mo by
`make` and by the package's build.

    python -m sse_lab.lab.translate messages             # extract the checks' messages again
    python -m sse_lab.lab.translate update [STEM ...]    # the catalogues follow the notebooks
    python -m sse_lab.lab.translate build [--execute] [STEM ...]
    python -m sse_lab.lab.translate execute STEM ...     # run a Chinese notebook, store it
    python -m sse_lab.lab.translate check                # what is out of step; status 1 if any

`make zh` runs the first three (build with --execute, which runs the Chinese notebooks that
have code cells without outputs). After `update`, a message whose English changed keeps its
old translation marked fuzzy, with the English it translated (`#| msgid`); new cells get an
empty one; deleted cells lose theirs. The build uses a translation only when it is current
(not empty, not fuzzy, made from today's English), else the English text.
"""

from __future__ import annotations

import argparse
import copy
import io
import re
import string
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, unescape, write_po

LOCALE = "zh_CN"
# The one code cell a Chinese notebook has and its English twin has not: it comes first.
LANGUAGE_CELL_ID = "zh-language"
LANGUAGE_CELL_SOURCE = (
    '# 让练习的检查用中文给出结论和提示\nfrom sse_lab.lab import use_language\n\nuse_language("zh")'
)
# Metadata a run of the notebook writes (the widgets' state, the kernel's version): the
# Chinese notebook's own, kept as it is.
RUN_METADATA = ("widgets", "language_info")
TRANSLATOR_COMMENT = "TRANSLATORS:"
PO_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class Layout:
    """Where the sources are, under a checkout's root (a temporary copy in the tests)."""

    root: Path

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    def english(self) -> list[Path]:
        """The English notebooks, in teaching order."""
        return sorted(
            path
            for path in self.notebooks.glob("[0-9][0-9]-*.ipynb")
            if not path.name.endswith(".zh.ipynb")
        )

    def stems(self) -> list[str]:
        return [path.stem for path in self.english()]

    def english_path(self, stem: str) -> Path:
        return self.notebooks / f"{stem}.ipynb"

    def chinese_path(self, stem: str) -> Path:
        return self.notebooks / f"{stem}.zh.ipynb"

    def catalogue_path(self, stem: str) -> Path:
        return self.notebooks / "locale" / "zh" / f"{stem}.po"

    @property
    def package(self) -> Path:
        return self.root / "sse_lab"

    @property
    def messages_template(self) -> Path:
        return self.package / "locale" / "sse_lab.pot"

    @property
    def messages_catalogue(self) -> Path:
        return self.package / "locale" / "zh" / "LC_MESSAGES" / "sse_lab.po"


# ---------------------------------------------------------------------------------------
# Catalogues


def read_catalogue(path: Path) -> Catalog:
    """The catalogue at `path`, with the previous English of its fuzzy messages (`#| msgid`),
    which Babel writes but reads as a comment."""
    with path.open("rb") as file:
        catalogue = read_po(file, locale=LOCALE)
    for message in catalogue:
        previous = [c[2:] for c in message.user_comments if c.startswith("| ")]
        if previous and previous[0].startswith("msgid "):
            message.user_comments = [c for c in message.user_comments if not c.startswith("| ")]
            quoted = PO_STRING.findall(" ".join(previous)[len("msgid ") :])
            message.previous_id = ["".join(unescape(part) for part in quoted)]
    return catalogue


def render_catalogue(catalogue: Catalog) -> bytes:
    """The catalogue as its .po file: unwrapped lines, messages in their order, a changed
    message's previous English kept (`#| msgid`)."""
    out = io.BytesIO()
    write_po(
        out,
        catalogue,
        width=0,
        omit_header=False,
        sort_output=False,
        include_previous=True,
        ignore_obsolete=True,
        include_lineno=False,
    )
    return out.getvalue()


def write_if_changed(path: Path, content: bytes, ignore: str = "") -> bool:
    """Write `content` unless the file holds it already (lines starting with `ignore` aside,
    such as a template's creation date): whether it wrote."""
    if path.exists():

        def kept(data: bytes) -> list[bytes]:
            lines = data.splitlines()
            return [line for line in lines if not (ignore and line.startswith(ignore.encode()))]

        if kept(path.read_bytes()) == kept(content):
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


def is_current(message: Message | None, source: str) -> bool:
    """Whether `message` translates `source` as it is today: not empty, not fuzzy, made from it."""
    return (
        message is not None and bool(message.string) and not message.fuzzy and message.id == source
    )


def by_cell(catalogue: Catalog) -> dict[str, Message]:
    """The catalogue's messages by the id of the cell each translates (its msgctxt)."""
    return {message.context or "": message for message in catalogue if message.id}


def prose_cells(notebook: Any) -> list[tuple[str, str]]:
    """(id, source) of each markdown cell, in order."""
    return [(cell.id, cell.source) for cell in notebook.cells if cell.cell_type == "markdown"]


def new_catalogue(old: Catalog | None, about: str) -> Catalog:
    """An empty Chinese catalogue with the header of `old`, or a new header that says what
    it translates (`about`)."""
    catalogue = Catalog(
        locale=LOCALE,
        header_comment=f"# {about}\n#",
        project="SSE Lab",
        last_translator="SSE Lab",
        language_team="Chinese (zh_CN)",
        fuzzy=False,
    )
    if old is not None:
        catalogue.header_comment = old.header_comment
        catalogue.mime_headers = old.mime_headers
        catalogue.fuzzy = old.fuzzy
    return catalogue


def updated(old: Catalog | None, notebook: Any, where: str = "a notebook") -> Catalog:
    """The catalogue for `notebook`'s markdown cells today, from `old`: a cell's message kept
    if its English is unchanged; its old translation marked fuzzy (with the English it was
    made from) if the English changed; an empty one for a new cell; none for a cell gone.
    A cell whose id changed but whose English did not keeps its translation."""
    before = by_cell(old) if old is not None else {}
    by_source = {m.id: m for m in before.values() if m.string and not m.fuzzy}
    catalogue = new_catalogue(old, f"The Chinese of {where}: one message per markdown cell.")
    for cell_id, source in prose_cells(notebook):
        message = before.get(cell_id)
        if message is None and source in by_source:
            message = by_source[source]
        flags: set[str] = set()
        previous: list[str] = []
        text = ""
        comments: list[str] = []
        if message is not None:
            text = str(message.string)
            comments = list(message.user_comments)
            if message.id == source:
                flags = set(message.flags)
                previous = list(message.previous_id)
            elif text:
                flags = {"fuzzy"}
                # what the translation was made from: the oldest English it stood for
                previous = list(message.previous_id) if message.fuzzy else [str(message.id)]
        catalogue.add(
            source,
            text,
            flags=flags,
            previous_id=previous,
            user_comments=comments,
            context=cell_id,
        )
    return catalogue


# ---------------------------------------------------------------------------------------
# Chinese notebooks


def language_cell(stored: Any | None) -> Any:
    """The first cell: the stored one (with its run) if it is unchanged, else a new one."""
    if stored is not None and stored.cells:
        first = stored.cells[0]
        if first.get("id") == LANGUAGE_CELL_ID and first.source == LANGUAGE_CELL_SOURCE:
            return copy.deepcopy(first)
    cell = nbformat.v4.new_code_cell(LANGUAGE_CELL_SOURCE)  # type: ignore[no-untyped-call]
    cell.id = LANGUAGE_CELL_ID
    return cell


def built(english: Any, catalogue: Catalog, stored: Any | None = None) -> Any:
    """The Chinese notebook: `english`'s cells with the current translation of each markdown
    cell (its English where there is none), its code cells, and the language cell first. A
    code cell unchanged since `stored` (the Chinese notebook as it is) keeps its outputs."""
    translations = by_cell(catalogue)
    ran = {
        cell.id: cell
        for cell in (stored.cells if stored is not None else [])
        if cell.cell_type == "code"
    }
    cells = [language_cell(stored)]
    for cell in english.cells:
        if cell.cell_type == "markdown":
            message = translations.get(cell.id)
            new = copy.deepcopy(cell)
            if is_current(message, cell.source):
                assert message is not None
                new.source = str(message.string)
            cells.append(new)
        elif cell.cell_type == "code" and cell.id in ran and ran[cell.id].source == cell.source:
            cells.append(copy.deepcopy(ran[cell.id]))
        elif cell.cell_type == "code":
            new = copy.deepcopy(cell)
            new.outputs, new.execution_count = [], None
            new.metadata.pop("execution", None)
            cells.append(new)
        else:
            cells.append(copy.deepcopy(cell))
    notebook = copy.deepcopy(english)
    notebook.cells = cells
    for key in RUN_METADATA:
        notebook.metadata.pop(key, None)
        if stored is not None and key in stored.metadata:
            notebook.metadata[key] = copy.deepcopy(stored.metadata[key])
    return notebook


def read_notebook(path: Path) -> Any:
    return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]


def render_notebook(notebook: Any) -> str:
    """The notebook as Jupyter writes it (nbformat's JSON), so that a run leaves no diff."""
    return str(nbformat.writes(notebook)) + "\n"  # type: ignore[no-untyped-call]


def build(layout: Layout, stem: str) -> bool:
    """Build notebooks/<stem>.zh.ipynb from its English twin and catalogue: whether it changed."""
    path = layout.chinese_path(stem)
    stored = read_notebook(path) if path.exists() else None
    notebook = built(
        read_notebook(layout.english_path(stem)),
        read_catalogue(layout.catalogue_path(stem)),
        stored,
    )
    return write_if_changed(path, render_notebook(notebook).encode())


def needs_run(path: Path) -> bool:
    """Whether a code cell of the notebook has no stored run."""
    notebook = read_notebook(path)
    return any(cell.cell_type == "code" and not cell.execution_count for cell in notebook.cells)


def execute(path: Path) -> None:
    """Run the notebook in a fresh kernel from its folder, as a learner would, and store it
    with its outputs (nbconvert, the venv's own)."""
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--inplace", path.name]
    print("executing", path.name, flush=True)
    subprocess.run(command, cwd=path.parent, check=True)


# ---------------------------------------------------------------------------------------
# What is out of step


FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK_TARGET = re.compile(r"\]\(([^)\s]+)")
HEADING = re.compile(r"^(#{1,6}) ", re.MULTILINE)
TABLE_ROW = re.compile(r"^\|", re.MULTILINE)
COMMENT = re.compile(r"(?:^|\s)(?:#|//)")


def chinese_twin(name: str) -> str:
    """Where a link or a path of the English text leads in the Chinese text: a notebook's,
    the README's or the workshop guide's Chinese edition, else the same place."""
    name = re.sub(r"\b(\d\d-[\w-]+)\.ipynb\b", r"\1.zh.ipynb", name)
    return re.sub(r"\b(README|workshop)\.md\b", r"\1.zh.md", name)


def code_blocks(text: str) -> list[str]:
    return [match.group(0) for match in FENCE.finditer(text)]


def prose(text: str) -> str:
    """The text without its fenced code blocks."""
    return FENCE.sub("", text)


def code_spans(text: str) -> list[str]:
    """The inline code spans of the text's prose, a line break inside one read as a space
    (as Markdown renders it)."""
    return [re.sub(r"[ \t]*\n[ \t]*", " ", span) for _, span in CODE_SPAN.findall(prose(text))]


def code_of(line: str) -> str:
    """A line of a code block without its comment (which a translation may translate)."""
    match = COMMENT.search(line)
    return (line[: match.start()] if match else line).rstrip()


def markup_problems(english: str, chinese: str) -> list[str]:
    """What the translation `chinese` lost of `english`'s markup: code blocks (their code
    byte for byte, comments aside), inline code spans, link targets (another notebook's
    link leads to its Chinese twin), headings and table rows."""
    problems = []
    mine, theirs = code_blocks(english), code_blocks(chinese)
    if len(mine) != len(theirs):
        problems.append(f"{len(mine)} code blocks in English, {len(theirs)} in the translation")
    for block, translated in zip(mine, theirs, strict=False):
        lines, translated_lines = block.splitlines(), translated.splitlines()
        if [code_of(line) for line in lines] != [code_of(line) for line in translated_lines]:
            problems.append(f"a code block differs beyond its comments: {lines[0]!r}...")
    spans = set(code_spans(chinese))
    lost = [s for s in code_spans(english) if s not in spans and chinese_twin(s) not in spans]
    if lost:
        problems.append(f"code spans missing: {', '.join(f'`{span}`' for span in lost)}")
    targets = set(LINK_TARGET.findall(prose(chinese)))
    missing = [t for t in LINK_TARGET.findall(prose(english)) if chinese_twin(t) not in targets]
    if missing:
        problems.append(f"link targets missing: {', '.join(chinese_twin(t) for t in missing)}")
    levels = [len(match) for match in HEADING.findall(prose(english))]
    translated_levels = [len(match) for match in HEADING.findall(prose(chinese))]
    if levels != translated_levels:
        problems.append(f"headings of levels {levels} in English, {translated_levels} translated")
    rows = len(TABLE_ROW.findall(prose(english)))
    if rows != len(TABLE_ROW.findall(prose(chinese))):
        problems.append(f"{rows} table rows in English, not in the translation")
    return problems


def catalogue_problems(notebook: Any, catalogue: Catalog, where: str) -> list[str]:
    """Each markdown cell without a current translation, each message for a cell that no
    longer exists, and each translation that lost markup."""
    messages = by_cell(catalogue)
    cells = prose_cells(notebook)
    problems = []
    for cell_id, source in cells:
        message = messages.get(cell_id)
        if message is None:
            problems.append(f"{where}: no message for cell {cell_id}")
        elif message.id != source:
            problems.append(f"{where}: cell {cell_id} changed since its message was written")
        elif not message.string:
            problems.append(f"{where}: cell {cell_id} is not translated")
        elif message.fuzzy:
            problems.append(f"{where}: cell {cell_id}'s translation is fuzzy (check it, unmark it)")
        else:
            problems += [
                f"{where}: cell {cell_id}: {problem}"
                for problem in markup_problems(source, str(message.string))
            ]
    ids = {cell_id for cell_id, _ in cells}
    problems += [
        f"{where}: a message for cell {cell_id}, which the notebook no longer has"
        for cell_id in messages
        if cell_id not in ids
    ]
    return problems


def code_problems(english: Any, chinese: Any, where: str) -> list[str]:
    """How the Chinese notebook's code cells differ from the English ones, the language cell
    (its first cell) aside."""
    first = chinese.cells[0] if chinese.cells else None
    if first is None or first.get("id") != LANGUAGE_CELL_ID or first.source != LANGUAGE_CELL_SOURCE:
        return [f"{where}: its first cell is not the language cell ({LANGUAGE_CELL_ID})"]
    theirs = [(c.id, c.source) for c in english.cells if c.cell_type == "code"]
    mine = [(c.id, c.source) for c in chinese.cells[1:] if c.cell_type == "code"]
    if mine == theirs:
        return []
    differ = [
        f"{where}: code cell {m[0]} is not its English twin's ({t[0]})"
        for m, t in zip(mine, theirs, strict=False)
        if m != t
    ]
    if len(mine) != len(theirs):
        differ.append(f"{where}: {len(mine)} code cells, its English twin has {len(theirs)}")
    return differ


def build_problems(stored: Any, expected: Any, where: str) -> list[str]:
    """How the stored Chinese notebook differs from what the build makes today."""
    if stored == expected:
        return []
    got = [(c.get("id"), c.cell_type) for c in stored.cells]
    want = [(c.get("id"), c.cell_type) for c in expected.cells]
    if got != want:
        return [f"{where}: its cells are not its English twin's: run `make zh`"]
    problems = []
    for cell, right in zip(stored.cells, expected.cells, strict=True):
        if cell == right:
            continue
        if cell.source != right.source:
            problems.append(f"{where}: cell {cell.id} is not what `make zh` builds")
        elif cell.cell_type == "code":
            problems.append(f"{where}: code cell {cell.id} has no stored run: run `make zh`")
        else:
            problems.append(f"{where}: cell {cell.id}'s metadata is not what `make zh` builds")
    return problems or [f"{where}: not what `make zh` builds (its metadata)"]


def notebook_problems(layout: Layout, stem: str) -> list[str]:
    """Everything out of step between notebooks/<stem>.ipynb, its catalogue and its Chinese
    twin, one line each."""
    catalogue_path, chinese_path = layout.catalogue_path(stem), layout.chinese_path(stem)
    root = layout.root
    if not catalogue_path.exists():
        return [f"{stem}: no catalogue {catalogue_path.relative_to(root)}"]
    english = read_notebook(layout.english_path(stem))
    catalogue = read_catalogue(catalogue_path)
    problems = catalogue_problems(english, catalogue, str(catalogue_path.relative_to(root)))
    where = str(chinese_path.relative_to(root))
    if not chinese_path.exists():
        return [*problems, f"{where} is missing: run `make zh`"]
    chinese = read_notebook(chinese_path)
    problems += code_problems(english, chinese, where)
    problems += build_problems(chinese, built(english, catalogue, chinese), where)
    return problems


def orphan_problems(layout: Layout) -> list[str]:
    """Catalogues and Chinese notebooks without an English notebook."""
    stems = set(layout.stems())
    catalogues = (layout.notebooks / "locale" / "zh").glob("*.po")
    chinese = layout.notebooks.glob("*.zh.ipynb")
    return [
        f"{path.relative_to(layout.root)} has no English notebook"
        for path in [*catalogues, *chinese]
        if path.name.removesuffix(".po").removesuffix(".zh.ipynb") not in stems
    ]


# ---------------------------------------------------------------------------------------
# The checks' messages


def extracted(package: Path) -> Catalog:
    """Every message `package` wraps in `_()` or `N_()`, as `pybabel extract` finds them."""
    template = Catalog(
        header_comment=(
            "# The messages of SSE Lab's checks, extracted from the package by `make zh`\n"
            "# (python -m sse_lab.lab.translate messages).\n#"
        ),
        project="SSE Lab",
        fuzzy=False,
    )
    found = extract_from_dir(package, comment_tags=(TRANSLATOR_COMMENT,), strip_comment_tags=True)
    for filename, lineno, message, comments, context in found:
        where = f"{package.name}/{Path(filename).as_posix()}"
        template.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return template


def update_messages(layout: Layout) -> list[Path]:
    """Extract the checks' messages into the template and merge them into the Chinese
    catalogue (a message whose English changed keeps its translation, fuzzy); the files
    written (none when nothing changed)."""
    template = extracted(layout.package)
    written = []
    if write_if_changed(
        layout.messages_template, render_catalogue(template), ignore='"POT-Creation-Date:'
    ):
        written.append(layout.messages_template)
    path = layout.messages_catalogue
    about = "The Chinese of the checks' messages (sse_lab/locale/sse_lab.pot)."
    catalogue = read_catalogue(path) if path.exists() else new_catalogue(None, about)
    catalogue.update(template, update_creation_date=False)
    if write_if_changed(path, render_catalogue(catalogue)):
        written.append(path)
    return written


def placeholders(text: str) -> set[tuple[str, str, str]]:
    """The `{name!conversion:spec}` fields of a message, as str.format reads them."""
    try:
        fields = string.Formatter().parse(text)
        return {
            (name, conversion or "", spec or "")
            for _, name, spec, conversion in fields
            if name is not None
        }
    except ValueError:
        return {("(not a format string)", "", "")}


def message_problems(layout: Layout) -> list[str]:
    """The Chinese catalogue of the checks' messages against the code: a message the code no
    longer has or one it has that the catalogue lacks (run `make zh`), a message not
    translated or fuzzy, a translation whose placeholders are not the English ones."""
    where = str(layout.messages_catalogue.relative_to(layout.root))
    code = {message.id for message in extracted(layout.package) if message.id}
    catalogue = read_catalogue(layout.messages_catalogue)
    have = {message.id for message in catalogue if message.id}
    problems = [f"{where}: lacks {m!r}: run `make zh`" for m in sorted(code - have)]
    problems += [f"{where}: {m!r} is no longer in the code: run `make zh`" for m in have - code]
    template = read_catalogue(layout.messages_template)
    if {message.id for message in template if message.id} != code:
        problems.append(
            f"{layout.messages_template.relative_to(layout.root)} is stale: run `make zh`"
        )
    for message in catalogue:
        if not message.id:
            continue
        if not message.string:
            problems.append(f"{where}: {message.id!r} is not translated")
        elif message.fuzzy:
            problems.append(f"{where}: {message.id!r}'s translation is fuzzy")
        elif placeholders(str(message.id)) != placeholders(str(message.string)):
            problems.append(f"{where}: {message.id!r} and its translation differ in placeholders")
    return problems


def problems(layout: Layout) -> list[str]:
    """Everything out of step in the Chinese edition's sources, one line each."""
    found = [problem for stem in layout.stems() for problem in notebook_problems(layout, stem)]
    return [*found, *orphan_problems(layout), *message_problems(layout)]


# ---------------------------------------------------------------------------------------
# The command line


def chosen(layout: Layout, stems: Sequence[str], have_catalogue: bool) -> Iterator[str]:
    """The stems named (every English notebook's, or every one with a catalogue, if none)."""
    known = layout.stems()
    for stem in stems:
        if stem.removesuffix(".ipynb") not in known:
            raise SystemExit(f"no English notebook {stem}: one of {', '.join(known)}")
    if stems:
        yield from (stem.removesuffix(".ipynb") for stem in stems)
    else:
        yield from (s for s in known if not have_catalogue or layout.catalogue_path(s).exists())


def say(paths: Iterable[Path], root: Path, verb: str) -> None:
    for path in paths:
        print(verb, path.relative_to(root))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sse_lab.lab.translate", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--root", type=Path, default=Path(), help="the checkout (default: .)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("messages", help="extract the checks' messages, update their catalogue")
    update = commands.add_parser("update", help="the notebooks' catalogues follow the notebooks")
    update.add_argument("stems", nargs="*", metavar="STEM")
    build_command = commands.add_parser("build", help="build the Chinese notebooks")
    build_command.add_argument("--execute", action="store_true", help="run those without outputs")
    build_command.add_argument("stems", nargs="*", metavar="STEM")
    run = commands.add_parser("execute", help="run Chinese notebooks and store their outputs")
    run.add_argument("stems", nargs="+", metavar="STEM")
    commands.add_parser("check", help="say what is out of step; status 1 if anything is")
    args = parser.parse_args(argv)
    layout = Layout(args.root.resolve())

    if args.command == "messages":
        say(update_messages(layout), layout.root, "updated")
    elif args.command == "update":
        for stem in chosen(layout, args.stems, have_catalogue=False):
            path = layout.catalogue_path(stem)
            old = read_catalogue(path) if path.exists() else None
            notebook = read_notebook(layout.english_path(stem))
            catalogue = updated(old, notebook, f"notebooks/{stem}.ipynb")
            if write_if_changed(path, render_catalogue(catalogue)):
                say([path], layout.root, "updated")
    elif args.command == "build":
        for stem in chosen(layout, args.stems, have_catalogue=True):
            if build(layout, stem):
                say([layout.chinese_path(stem)], layout.root, "built")
            if args.execute and needs_run(layout.chinese_path(stem)):
                execute(layout.chinese_path(stem))
    elif args.command == "execute":
        for stem in chosen(layout, args.stems, have_catalogue=True):
            execute(layout.chinese_path(stem))
    else:
        found = problems(layout)
        print("\n".join(found) or "the Chinese edition is in step with the English one")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
