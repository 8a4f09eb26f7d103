"""``python -m monitor``."""

from monitor.app import Monitor
from shared.runtime import main

if __name__ == "__main__":
    main(Monitor)
