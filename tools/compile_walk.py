"""Compile the fast reject's walk (clinical/timeline/relevance_walk.py) with mypyc.

    python tools/compile_walk.py            # `make install` runs it; a failure leaves the Python walk
    python tools/compile_walk.py --require  # exit 1 when it cannot be compiled (no C compiler, no mypyc)

The source is copied as `clinical.timeline._relevance_walk_compiled` with its SHA-256 appended, compiled
in a temporary directory, and the extension modules are copied next to the source. relevance.py uses them
only while relevance_walk.py still has that digest, so an edited walk never runs stale compiled code
(`make install` compiles again when the file changes). Needs mypy (the development lock) and a C compiler.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "clinical" / "timeline"
SOURCE = PACKAGE / "relevance_walk.py"
COMPILED_NAME = "_relevance_walk_compiled"


def compiled_source(source: bytes) -> str:
    digest = hashlib.sha256(source).hexdigest()
    return (
        source.decode()
        + f'\n# Appended by tools/compile_walk.py: the source compiled.\nSOURCE_SHA256: Final = "{digest}"\n'
    )


def compile_walk() -> list[Path]:
    """The extension modules written into clinical/timeline; CalledProcessError when mypyc fails."""
    with tempfile.TemporaryDirectory(prefix="compile-walk-") as directory:
        build = Path(directory)
        package = build / "clinical" / "timeline"
        package.mkdir(parents=True)
        (build / "clinical" / "__init__.py").write_text("")
        (package / "__init__.py").write_text("")
        (package / f"{COMPILED_NAME}.py").write_text(compiled_source(SOURCE.read_bytes()))
        subprocess.run(  # noqa: S603 (this interpreter and fixed arguments)
            [sys.executable, "-m", "mypyc", f"clinical/timeline/{COMPILED_NAME}.py"],
            cwd=build,
            check=True,
            capture_output=True,
            text=True,
        )
        built = sorted(package.glob(f"{COMPILED_NAME}*.so")) + sorted(package.glob(f"{COMPILED_NAME}*.pyd"))
        if not built:
            raise FileNotFoundError("mypyc wrote no extension module")
        for stale in [*PACKAGE.glob(f"{COMPILED_NAME}*.so"), *PACKAGE.glob(f"{COMPILED_NAME}*.pyd")]:
            stale.unlink()
        written = []
        for module in built:
            target = PACKAGE / module.name
            target.write_bytes(module.read_bytes())
            written.append(target)
        return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--require", action="store_true", help="exit 1 when the walk cannot be compiled")
    arguments = parser.parse_args()
    try:
        written = compile_walk()
    except (OSError, subprocess.CalledProcessError) as error:
        details = error.stderr if isinstance(error, subprocess.CalledProcessError) else str(error)
        print(
            f"compile_walk: not compiled, the Python walk is used (same answers, slower):\n{details}",
            file=sys.stderr,
        )
        return 1 if arguments.require else 0
    print("compile_walk: " + ", ".join(str(path.relative_to(ROOT)) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
