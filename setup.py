"""The package's build (configured in pyproject.toml), with one step more: the checks'
translated messages (sse_lab/locale/*/LC_MESSAGES/*.po) compiled to the .mo files that
gettext reads, so that `pip install .` ships them and an editable install (`make lab`)
finds them beside their .po. The .mo files are built, never committed."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


def compile_messages(package_dir: Path, target_dir: Path) -> list[str]:
    """Compile every catalogue under package_dir/locale into target_dir/locale: the files."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted((package_dir / "locale").glob("*/LC_MESSAGES/*.po")):
        mo = target_dir / po.relative_to(package_dir).with_suffix(".mo")
        with po.open("rb") as source:
            catalog = read_po(source)
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as out:
            write_mo(out, catalog)  # fuzzy translations left out, as `pybabel compile` does
        written.append(str(mo))
    return written


class BuildWithMessages(build_py):
    """build_py, then the .mo files: into the build directory for a wheel, in place for an
    editable install (setuptools' rule for files a build step makes)."""

    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "sse_lab"
        target = source if self.editable_mode else Path(self.build_lib) / "sse_lab"
        self._messages = compile_messages(source, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), *getattr(self, "_messages", [])]


setup(cmdclass={"build_py": BuildWithMessages})
