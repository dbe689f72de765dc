"""The layout is the design: import-linter's contracts (pyproject.toml) hold, and no folder outgrows its room."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hrm_core", "explain", "hrm_cli", "ui", "views")


def test_import_contracts_hold_layers_no_streamlit_below_the_faces_no_cycles():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is a test dependency (requirements-dev.txt)"
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout and "3 kept" in done.stdout


def test_every_engine_layer_has_a_contract_and_a_docstring():
    layers = {p.name for p in (ROOT / "hrm_core").iterdir() if (p / "__init__.py").exists()}
    contract = (ROOT / "pyproject.toml").read_text()
    for name in layers:
        assert re.search(rf"\bhrm_core\.{name}\b", contract), f"hrm_core.{name} is in no layers contract"
        doc = (ROOT / "hrm_core" / name / "__init__.py").read_text()
        assert doc.startswith('"""') and "import" in doc.lower(), f"hrm_core/{name}/__init__.py must say what it may import"


def test_no_package_folder_holds_more_than_15_modules_and_the_engine_root_at_most_4():
    for pkg in PACKAGES:
        for folder in [ROOT / pkg, *(p for p in (ROOT / pkg).rglob("*") if p.is_dir() and p.name != "__pycache__")]:
            modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
            assert len(modules) <= 15, f"{folder.relative_to(ROOT)} holds {len(modules)} modules"
    assert len([p for p in (ROOT / "hrm_core").glob("*.py") if p.name != "__init__.py"]) <= 4


def test_readmes_map_names_every_module_of_the_engine_explain_and_the_cli():
    readme = (ROOT / "README.md").read_text()
    the_map = readme[readme.index("## Map of the code"):readme.index("## Dashboard")]
    for pkg in ("hrm_core", "explain", "hrm_cli"):
        for f in (ROOT / pkg).rglob("*.py"):
            if not f.name.startswith("__"):
                assert f.name in the_map, f"README's map of the code lacks {f.relative_to(ROOT)}"
