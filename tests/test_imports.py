"""Every module imports on its own, first thing in a fresh interpreter: no import cycle that
only an import order the tests happen to use would hide (``trustflow serve`` imports the app
first, a script may import a model module first)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import trustflow

# One interpreter that has loaded the libraries but no trustflow module forks a child per
# module; each child imports its module first and reports what failed.
_PROBE = textwrap.dedent(
    """
    import json, os, pathlib, sys, traceback
    import duckdb, fastapi, numpy, polars, pydantic, scipy.stats, sqlalchemy, sqlalchemy.orm
    assert not any(m == "trustflow" or m.startswith("trustflow.") for m in sys.modules)
    root = pathlib.Path(sys.argv[1])
    # found on disk: pkgutil.walk_packages would import the packages it walks, here
    names = sorted(
        ".".join(("trustflow", *path.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for path in root.rglob("*.py")
        # Alembic runs its environment and revisions itself
        if path.relative_to(root).parts[0] != "migrations" or path.name == "__init__.py"
    )
    failures = {}
    for name in names:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                __import__(name)
                message = b""
            except BaseException:
                message = traceback.format_exc(limit=-3).encode()
            os.write(write, message[:4000])
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            message = pipe.read()
        os.waitpid(pid, 0)
        if message:
            failures[name] = message.decode()
    print(json.dumps({"modules": len(names), "failures": failures}))
    """
)


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    root = trustflow.__path__[0]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, root], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["modules"] > 100
    assert result["failures"] == {}, "\n".join(result["failures"].values())
