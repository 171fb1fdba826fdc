"""``python -m arena.worker``: the agent process (see :mod:`arena.worker.main`)."""

from arena.worker.main import main

main()
