"""Write manifest.json (the sha256 of each file) into model folders whose files were replaced by hand,
e.g. the shipped models after a retraining copied in: python scripts/write_model_manifest.py src/propscan/presets/*"""

import json
import sys
from pathlib import Path

from propscan.model.config import TRIAGE_MODEL_TYPE
from propscan.model.integrity import write_manifest
from propscan.model.propaganda import shipped_files
from propscan.model.triage import TRIAGE_FILES

for folder in map(Path, sys.argv[1:]):
    kind = json.loads((folder / "config.json").read_text()).get("model_type")
    write_manifest(folder, TRIAGE_FILES if kind == TRIAGE_MODEL_TYPE else shipped_files(folder))
    print(f"wrote {folder / 'manifest.json'}")
