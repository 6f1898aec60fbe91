"""The public mirror: bandersnatch syncs, their record, verification and status
(``kit mirror``).

``sync`` runs one sync: ``plan`` resolves what to mirror through
``upstream_client``, ``storage`` checks the room for it, ``bandersnatch`` runs
it and writes the ``record``; ``verify`` and ``status`` read what it left.
"""
