"""The README documents what users can set: every environment variable the package reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"PROPSCAN_[A-Z][A-Z_]*")


def settings_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("### Settings", 1)[1].split("\n#", 1)[0]


def test_every_environment_variable_of_the_package_has_a_settings_line():
    read = {name for path in (ROOT / "src" / "propscan").rglob("*.py") for name in VARIABLE.findall(path.read_text())}
    documented = set(re.findall(r"^\| `(PROPSCAN_[A-Z_]+)` \|", settings_section(), flags=re.MULTILINE))
    assert read, "the scan found no variable: the pattern or the path is wrong"
    assert sorted(read - documented) == [], "add these to the README's Settings table"
