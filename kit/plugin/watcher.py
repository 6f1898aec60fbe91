"""Following devpi's commits: which cached pages each commit changed.

When: right after each commit, in serial order, from a thread of the
plugin's own (:class:`CommitFollower`) that reads each new serial's changes
as devpi's notifier would, on the primary and on a replica alike (a replica
commits the primary's changes at the primary's serials). devpi's notifier
itself would do, but it holds every later event while a file of an earlier
one is not on disk yet, and then sleeps 5 s: measured here, one upload in
three reached the edge 4-5 s late through it. The ``devpiserver_on_*`` hooks
fire from that same thread and see only uploads and version data of private
stages, never an index's settings nor new upstream links on a mirror.

:class:`ChangeWatcher` turns each key change into purge keys
(:func:`kit.plugin.keys.purge_keys`) and hands them to a sender
(:mod:`kit.plugin.sender`), which returns at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kit.core.purge_keys import user_key
from kit.plugin.keys import purge_keys
from kit.plugin.sender import Fanout, PurgeSender

__all__ = ["ChangeWatcher", "CommitFollower"]


class ChangeWatcher:
    """Turn each committed key change into purge keys.

    Called by :class:`CommitFollower`, in serial order, after the commit.
    """

    #: devpi key → handler (the keys are defined in devpi_server.model.add_keys).
    HANDLERS = {
        "PROJSIMPLELINKS": "on_project_page",  # a project's links: files added or removed, new upstream links
        "PROJVERSION": "on_project_page",  # a version's data (requires_python, a release without files)
        "PROJNAMES": "on_project_list",  # projects added to or removed from a stage
        "MIRRORNAMESINIT": "on_mirror_names",  # a mirror's first list of upstream names
        "USER": "on_user",  # a user's record: its password, its tokens (devpi-tokens) and its indexes' settings
    }

    def __init__(self, keyfs: Any, sender: "PurgeSender | Fanout"):
        self.keyfs = keyfs
        self.sender = sender
        self._indexes_serial = -2
        self._indexes: dict[str, dict] = {}

    def handler(self, keyname: str) -> Any:
        """The method for changes of devpi key ``keyname``, or None."""
        name = self.HANDLERS.get(keyname)
        return getattr(self, name) if name else None

    def indexes(self, serial: int) -> dict[str, dict]:
        """Every index's settings at ``serial`` (inside a read transaction at it);
        kept for the serial, as one commit brings many key changes."""
        if serial != self._indexes_serial:
            found = {}
            for user in self.keyfs.USERLIST.get():
                config = self.keyfs.USER(user=user).get() or {}
                for name, ixconfig in (config.get("indexes") or {}).items():
                    found[f"{user}/{name}"] = ixconfig
            self._indexes, self._indexes_serial = found, serial
        return self._indexes

    def _bases_of(self, serial: int) -> dict[str, Sequence[str]]:
        return {name: ixconfig.get("bases") or () for name, ixconfig in self.indexes(serial).items()}

    @staticmethod
    def _before(tx: Any, ev: Any) -> Any:
        if ev.back_serial < 0:
            return None
        try:
            return tx.get_value_at(ev.typedkey, ev.back_serial)
        except KeyError:
            return None

    def on_project_page(self, ev: Any) -> None:
        params = ev.typedkey.params
        stage = f"{params['user']}/{params['index']}"
        with self.keyfs.read_transaction(at_serial=ev.at_serial):
            keys = purge_keys(stage, params["project"], self._bases_of(ev.at_serial))
        self.sender.add(keys, ev.at_serial)

    def on_project_list(self, ev: Any) -> None:
        params = ev.typedkey.params
        stage = f"{params['user']}/{params['index']}"
        with self.keyfs.read_transaction(at_serial=ev.at_serial) as tx:
            ixconfig = self.indexes(ev.at_serial).get(stage) or {}
            if ixconfig.get("type") == "mirror":
                # A mirror's root page lists the upstream's names, which devpi
                # keeps outside its database; this set only tracks what it
                # has cached, and its project pages come with PROJSIMPLELINKS.
                return
            changed = set(self._before(tx, ev) or ()) ^ set(ev.value or ())
            if not changed:
                return
            bases_of = self._bases_of(ev.at_serial)
            keys = purge_keys(stage, None, bases_of)
            for project in changed:
                keys |= purge_keys(stage, project, bases_of)
        self.sender.add(keys, ev.at_serial)

    def on_mirror_names(self, ev: Any) -> None:
        params = ev.typedkey.params
        stage = f"{params['user']}/{params['index']}"
        with self.keyfs.read_transaction(at_serial=ev.at_serial):
            keys = purge_keys(stage, None, self._bases_of(ev.at_serial))
        self.sender.add(keys, ev.at_serial)

    def on_user(self, ev: Any) -> None:
        user = ev.typedkey.params["user"]
        with self.keyfs.read_transaction(at_serial=ev.at_serial) as tx:
            before = self._before(tx, ev)
            old = (before or {}).get("indexes") or {}
            new = (ev.value or {}).get("indexes") or {}
            changed = [name for name in old.keys() | new.keys() if old.get(name) != new.get(name)]
            keys = set()
            if changed:
                bases_of = self._bases_of(ev.at_serial)
                for name in changed:
                    keys |= purge_keys(f"{user}/{name}", "*", bases_of)
            # Anything else of an existing user (password, tokens, or the user gone) may revoke a
            # credential the edges have let in: they forget every read decision kept for it.
            if before is not None and _credentials(before) != _credentials(ev.value):
                keys.add(user_key(user))
        if keys:
            self.sender.add(keys, ev.at_serial)


def _credentials(record: Any) -> dict:
    """A user record without its indexes' settings (which change no credential)."""
    return {k: v for k, v in (record or {}).items() if k != "indexes"}


class CommitFollower:
    """Follows devpi's commits and hands each key change to a :class:`ChangeWatcher`.

    A thread of devpi's pool (``thread_run``; devpi sets ``self.thread``). It
    starts at the serial devpi has when it starts: pages fetched before were
    fetched at that serial or later.
    """

    def __init__(self, keyfs: Any, watcher: ChangeWatcher, log: Any):
        self.keyfs = keyfs
        self.watcher = watcher
        self.log = log
        self.serial = None

    def follow(self, serial: int) -> None:
        """Run the watcher on every change of ``serial``."""
        from devpi_server.keyfs import KeyChangeEvent

        with self.keyfs.get_connection() as conn:
            changes = conn.get_changes(serial)
        for relpath, (keyname, back_serial, value) in changes.items():
            handler = self.watcher.handler(keyname)
            if handler is not None:
                handler(KeyChangeEvent(self.keyfs.get_key_instance(keyname, relpath), value, serial, back_serial))

    def thread_run(self) -> None:
        from devpi_server.mythread import Shutdown

        if self.serial is None:
            self.serial = self.keyfs.get_current_serial()
        while True:
            try:
                self.keyfs.wait_tx_serial(self.serial + 1, recheck=1.0, recheck_callback=self.thread.exit_if_shutdown)
                current = self.keyfs.get_current_serial()
                while self.serial < current:
                    self.follow(self.serial + 1)
                    self.serial += 1
            except Shutdown:
                raise
            except Exception as exc:  # noqa: BLE001 - a pool thread must not die; the edge revalidates anyway
                self.log.warning("kit-purge: could not read the changes of serial %s (%s: %s); skipped",
                                 self.serial + 1, type(exc).__name__, exc)
                self.serial += 1

    def thread_shutdown(self) -> None:
        pass
