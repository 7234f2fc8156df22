"""``python -m convcalc``."""

from convcalc.entry import main

main()
