"""The embedded Celery broker: kombu's filesystem transport, made safe (docs/DECISIONS.md).

kombu's own filesystem transport (5.7) creates a message file and fills it a moment later, while a
reader may already take it and read it empty; the reader then raises ``JSONDecodeError``, which the
worker treats as unrecoverable and exits (kombu issue 1551). One empty ``*.msg`` file in the queue
folder stops the worker for good. Here:

- a message is written to a hidden temporary file in the queue folder and renamed into place, so a
  message file is visible only whole (rename is atomic within one file system);
- a reader claims a message by renaming it into the processing folder (so two readers never take
  the same file), reads and checks it there, and moves a file it cannot use (empty, torn, not
  JSON, not a message) into the rejected folder with one warning line;
- nothing in ``_get`` raises anything but ``Empty``: a broker hiccup costs a poll, never the worker;
- the exchange tables in the control folder are rewritten whole (temporary file + rename, under a
  separate lock file), so a publisher never reads a half-written table either.

A message is still deleted once read, before the task runs: a killed worker loses that nudge. The
deployments table is the queue of record, and beat's sweep picks up whatever a lost nudge left
queued (docs/DECISIONS.md). Selected by ``CELERY_BROKER_URL=pixell-fs://`` (the default).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from time import monotonic_ns

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

SCHEME = "pixell-fs"
TEMP_PREFIX = ".tmp-"


def _write_whole(folder: Path, name: str, data: bytes) -> Path:
    """Write data to folder/name so that the name only ever shows the whole content."""
    temp = folder / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, folder / name)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return folder / name


class Channel(filesystem.Channel):
    """Filesystem channel whose messages are written whole and read without ever crashing."""

    _last_error: str | None = None

    # --- messages -----------------------------------------------------------------------------

    def _put(self, queue, payload, **kwargs):
        # Zero-padded so that the reader's name order is the order of sending.
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        try:
            _write_whole(Path(self.data_folder_out), name, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add message {name!r} to the queue") from exc

    def _get(self, queue):
        try:
            return self._get_next(queue)
        except Empty:
            raise
        except Exception as exc:
            self._warn_once(f"broker: reading queue {queue!r} failed: {exc!r}")
            raise Empty() from None

    def _get_next(self, queue):
        wanted = f"{queue}.msg"
        inbox = Path(self.data_folder_in)
        try:
            names = sorted(os.listdir(inbox))
        except FileNotFoundError:
            inbox.mkdir(parents=True, exist_ok=True)  # removed under us: recreate, poll again
            raise Empty() from None
        for name in names:
            if name.startswith(TEMP_PREFIX) or name.partition(".")[2] != wanted:
                continue
            claimed = self.processing_folder / name
            try:
                # Rename is the claim: only one reader wins; a loser sees FileNotFoundError.
                os.rename(inbox / name, claimed)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.EXDEV):
                    continue
                raise
            payload = self._read_claimed(claimed)
            if payload is not None:
                self._last_error = None
                return payload
        raise Empty()

    def _read_claimed(self, claimed: Path):
        """The message in a claimed file, or None after setting an unusable file aside."""
        try:
            raw = claimed.read_bytes()
        except OSError as exc:
            self._reject(claimed, f"unreadable ({exc.strerror or exc})")
            return None
        try:
            payload = loads(bytes_to_str(raw))
            # What kombu's Message needs; a file that fails here would fail later, outside _get.
            self.Message(payload, channel=self)
        except Exception as exc:
            reason = "empty" if not raw.strip() else f"not a message ({type(exc).__name__}: {exc})"
            self._reject(claimed, reason)
            return None
        claimed.unlink(missing_ok=True)
        return payload

    def _reject(self, claimed: Path, reason: str) -> None:
        target = self.rejected_folder / claimed.name
        try:
            self.rejected_folder.mkdir(parents=True, exist_ok=True)
            os.replace(claimed, target)
            where = str(target)
        except OSError:
            claimed.unlink(missing_ok=True)
            where = "deleted (rejected folder unwritable)"
        logger.warning("broker: message file %s is %s; set aside: %s", claimed.name, reason, where)

    def _warn_once(self, text: str) -> None:
        # A persisting fault (folder unreadable) is logged when it starts, not every poll.
        if text != self._last_error:
            logger.warning(text)
            self._last_error = text

    @property
    def processing_folder(self) -> Path:
        default = Path(self.data_folder_in).parent / "processing"
        folder = Path(self.transport_options.get("processed_folder") or default)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def rejected_folder(self) -> Path:
        default = Path(self.data_folder_in).parent / "rejected"
        return Path(self.transport_options.get("rejected_folder") or default)

    # --- exchange tables (control folder) ------------------------------------------------------

    @contextmanager
    def _table_lock(self, exchange):
        self.control_folder.mkdir(parents=True, exist_ok=True)
        lock_path = self.control_folder / f".{exchange or 'default'}.lock"
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_table(self, exchange) -> list:
        file = self._exchange_file(exchange)
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot open {file}") from exc
        try:
            return [filesystem.exchange_queue_t(*row) for row in loads(bytes_to_str(raw))]
        except Exception:
            logger.warning("broker: exchange table %s is unreadable; treated as empty", file.name)
            return []

    def _write_table(self, exchange, rows) -> None:
        file = self._exchange_file(exchange)
        _write_whole(file.parent, file.name, str_to_bytes(dumps(rows)))

    def get_table(self, exchange):
        return self._read_table(exchange)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange):
            rows = self._read_table(exchange)
            if row not in rows:
                self._write_table(exchange, [row, *rows])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # The virtual channel's own bookkeeping, then our table (not kombu's in-place rewrite).
        super(filesystem.Channel, self)._delete(
            queue, exchange, routing_key, pattern, *args, **kwargs
        )
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange):
            rows = self._read_table(exchange)
            if row in rows:
                self._write_table(exchange, [r for r in rows if r != row])


class Transport(filesystem.Transport):
    Channel = Channel
    driver_type = driver_name = SCHEME

    @property
    def default_connection_params(self):
        # Folders have no host: without this kombu warns "No hostname was supplied" per connection.
        return {}


def register() -> None:
    """Make ``pixell-fs://`` name this transport (kombu resolves the scheme at connect time)."""
    TRANSPORT_ALIASES.setdefault(SCHEME, "pixell.broker:Transport")
