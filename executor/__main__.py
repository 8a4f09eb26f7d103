"""``python -m executor``."""

from executor.app import Executor
from shared.runtime import main

if __name__ == "__main__":
    main(Executor)
