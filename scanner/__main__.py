"""``python -m scanner``."""

from scanner.app import Scanner
from shared.runtime import main

if __name__ == "__main__":
    main(Scanner)
