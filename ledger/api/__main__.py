"""`python -m ledger.api [FILE]`: write the API's OpenAPI document (docs/openapi.json)."""

import json
import sys
from pathlib import Path

from ledger.api.app import application


def main(argv: list[str]) -> None:
    text = json.dumps(application().openapi(), indent=2, sort_keys=True) + "\n"
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
