"""Write manifest.json (the sha256 of each file) into model folders whose files were replaced by hand,
e.g. the shipped models after a retraining copied in: python scripts/write_model_manifest.py src/propscan/presets/*"""

import sys
from pathlib import Path

from propscan.model.integrity import write_manifest
from propscan.model.propaganda import MODEL_FILES

for folder in map(Path, sys.argv[1:]):
    write_manifest(folder, MODEL_FILES)
    print(f"wrote {folder / 'manifest.json'}")
