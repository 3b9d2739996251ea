"""``python -m vaecollapse.cli``: the same command line as the ``vaecollapse`` script."""

from vaecollapse.cli import main

if __name__ == "__main__":
    main()
