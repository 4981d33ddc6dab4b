"""Write manifest.json (the sha256 of each file) into model folders whose files were replaced by hand,
e.g. the shipped models after a retraining copied in: python scripts/write_model_manifest.py src/propscan/presets/*"""

import json
import sys
from pathlib import Path

from propscan.model.config import TRIAGE_MODEL_TYPE
from propscan.model.integrity import write_manifest
from propscan.model.propaganda import ENCODER_FILE, MODEL_FILES
from propscan.model.span_reader import READER_FILE
from propscan.model.triage import TRIAGE_FILES

for folder in map(Path, sys.argv[1:]):
    kind = json.loads((folder / "config.json").read_text()).get("model_type")
    # The optional files (a fine-tuned encoder's or span reader's deltas) are checked where present.
    optional = [name for name in (ENCODER_FILE, READER_FILE) if (folder / name).exists()]
    write_manifest(folder, TRIAGE_FILES if kind == TRIAGE_MODEL_TYPE else [*MODEL_FILES, *optional])
    print(f"wrote {folder / 'manifest.json'}")
