"""The process boundary between the trusted harness and the sandboxed agent process.

:mod:`~arena.boundary.sandbox` builds the fence (bubblewrap, namespaces, ``nobody``);
:mod:`~arena.boundary.lane` carries bytes through shared memory; :mod:`~arena.boundary.wire`
encodes messages (and refuses hostile ones); :mod:`~arena.boundary.protocol` names them.
Both sides import this package; it imports neither.
"""
