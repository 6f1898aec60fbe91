"""The public mirror: bandersnatch syncs, their record, verification and status
(``kit mirror``)."""
