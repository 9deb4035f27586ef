"""A Python subprocess that imports scikit-learn while the refresh does other
work, then fits the outcome model for it.

Importing scikit-learn (and the ``scipy.stats`` it imports) takes about a
second, more than any of the refresh's own steps on national data. The
refresh's process spends its first seconds reading files and scoring
services, which needs neither, so the worker is started when the run starts
(``pipeline.defs.resources.ModelWorker``), pays for the import on another
core meanwhile, and the ``outcome_model`` asset hands it the training table
(``Worker.call(outcome.fit, table)``). Results are the same to the last bit as
fitting in the process itself: the same functions on the same pickled data,
on one thread either way (``outcome.one_thread``). The fitted model comes
back without scikit-learn objects when the logistic regression is chosen
(``outcome.NumpyLogistic``), so the refresh's process never imports it; a
chosen gradient-boosting model comes back as itself.

The protocol is pickles over the child's stdin and stdout: ``(function,
args, kwargs)`` in, ``("ok", result)`` or ``("error", exception, traceback
text)`` out, in the order the calls came, after a ``("warm",)`` once the
imports are done (``Worker.warm``). On this side one thread writes
the calls and another reads the answers, so that sending never waits for
the child to finish its imports or an earlier call, and a caller can ask
whether an answer is in (``answer_waiting``). The child's own prints go to
its stderr. It exits when its stdin closes, so it never outlives the run
that started it.

    python -m pipeline.model.worker      # the child; started by Worker()
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from pathlib import Path

PEAK_MESSAGE = "model worker: peak memory"  # logged with "<MiB> MiB" as a run closes it (benchmarks/perf.py)


WARM = ("warm",)  # the child's first message: imports done, calls taken from here on


class WorkerUnavailable(RuntimeError):
    """The child could not be started, or died without answering."""


class Worker:
    """One child process; ``call`` runs a function in it and returns its result."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # the folder holding the package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "pipeline.model.worker"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as e:
            raise WorkerUnavailable(f"could not start the model worker: {e}") from e
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()  # pickled calls; None: close
        self._write_error: BaseException | None = None
        self._writer = threading.Thread(target=self._write, name="model worker writer", daemon=True)
        self._writer.start()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()  # answers read; ("gone", cause) at the end
        self._warm = threading.Event()  # the child has done its imports and takes calls
        self._reader = threading.Thread(target=self._read, name="model worker reader", daemon=True)
        self._reader.start()

    def call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in the child. An exception there is raised
        here, with the child's traceback in its notes."""
        self.send(fn, *args, **kwargs)
        return self.receive()

    def send(self, fn, *args, **kwargs) -> None:
        """Start ``fn(*args, **kwargs)`` in the child; ``receive`` waits for it.
        Returns once the call is pickled: a thread writes it to the child, so
        the run never waits for the child to take it (a pipe holds 64 KiB,
        and the child takes nothing while it imports or runs an earlier call)."""
        if self._write_error is not None:
            self._unavailable(self._write_error)
        self._outbox.put(pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))

    def _write(self) -> None:
        """The writer thread: each call to the child's stdin, in order; closes
        it at the end (the child then exits) or when the child has gone."""
        try:
            while (data := self._outbox.get()) is not None:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
        except (OSError, ValueError) as e:  # a broken pipe: the child has gone
            self._write_error = e
        finally:
            with contextlib.suppress(OSError, ValueError):
                self._proc.stdin.close()

    def _read(self) -> None:
        """The reader thread: each answer from the child's stdout, as it comes."""
        while True:
            try:
                answer = pickle.load(self._proc.stdout)
            except Exception as e:  # noqa: BLE001  (the pipe closed, or an answer that cannot be read)
                self._inbox.put(("gone", e))
                return
            if answer == WARM:
                self._warm.set()
            else:
                self._inbox.put(("answer", answer))

    def warm(self) -> bool:
        """Whether the child has done its imports (scikit-learn's included), so
        that a call sent now starts at once if none is running."""
        return self._warm.is_set()

    def answer_waiting(self) -> bool:
        """Whether an answer is in, so that ``receive`` will not wait (or the child has gone)."""
        return not self._inbox.empty()

    def receive(self):
        """The result of the oldest call sent and not yet received."""
        kind, payload = self._inbox.get()
        if kind == "gone":
            self._inbox.put((kind, payload))  # and for every later call
            self._unavailable(payload)
        status, *payload = payload
        if status == "ok":
            return payload[0]
        exc, text = payload
        exc.add_note("in the model worker:\n" + text)
        raise exc

    def _unavailable(self, cause: BaseException):
        try:
            code = self._proc.wait(5.0)  # it has closed its end: it is exiting
        except subprocess.TimeoutExpired:
            code = None
        raise WorkerUnavailable(f"the model worker exited (code {code}) without answering; "
                                "its error, if any, is in the run's stderr") from cause

    def peak_mib(self) -> float | None:
        """The child's peak resident memory so far, in MiB (:func:`peak_mib`)."""
        return peak_mib(self._proc.pid)

    def close(self, timeout: float = 10.0) -> int | None:
        """Close the child's stdin once the calls sent are written, and wait
        for it to exit (kill it after ``timeout`` s)."""
        self._outbox.put(None)
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()
        finally:
            self._writer.join(1.0)  # a write to a killed child fails at once
            self._reader.join(1.0)  # it reads the end of the pipe
            if not self._reader.is_alive():
                self._proc.stdout.close()


def peak_mib(pid: int | str = "self") -> float | None:
    """A process's peak resident memory so far, in MiB: Linux's VmHWM, the
    high-water mark of its own memory (not ``ru_maxrss``, which a process
    started by vfork and exec inherits from its parent); None elsewhere or
    once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            line = next(x for x in fh if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration, ValueError):
        return None


_AHEAD: list[Worker] = []  # the worker start_ahead started, until a run takes it


def start_ahead() -> None:
    """Start a worker now for this process's next run to take (``take_started``).

    The CLI calls it before it imports Dagster, so that the worker's imports
    (scikit-learn's, about 0.9 s of a core) overlap the process's own
    (Dagster and the definitions, about 0.8 s) rather than the run's first
    steps, which they slowed by sharing the machine, and the model is fitted
    earlier. A worker no run takes is killed as the process exits. If it
    cannot start, nothing is started: the run starts its own, as it would.
    """
    if _AHEAD:
        return
    try:
        _AHEAD.append(Worker())
    except WorkerUnavailable:
        return
    atexit.register(_kill_untaken)


def take_started() -> Worker | None:
    """The worker ``start_ahead`` started, if it is still running; it is
    given once (a later run starts its own)."""
    if not _AHEAD:
        return None
    worker = _AHEAD.pop()
    if worker._proc.poll() is not None:  # it died: a run starts its own
        worker.close(timeout=0.0)
        return None
    return worker


def _kill_untaken() -> None:
    while _AHEAD:  # never called: nothing to wait for
        worker = _AHEAD.pop()
        worker._proc.kill()
        worker.close(timeout=1.0)


def _serve(inp, out) -> None:
    pickle.dump(WARM, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()
    while True:
        try:
            fn, args, kwargs = pickle.load(inp)
        except EOFError:
            return
        try:
            reply = ("ok", fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001  (sent back to the caller, which raises it)
            text = traceback.format_exc()
            try:
                pickle.dumps(e)
            except Exception:  # noqa: BLE001
                e = RuntimeError(f"{type(e).__name__}: {e}")
            reply = ("error", e, text)
        pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


def main() -> None:
    # below the run's priority: where the cores are shared, the run's own
    # steps go first while this one imports (0.05-0.1 s off the demo run)
    os.nice(10)
    out = os.fdopen(os.dup(1), "wb")  # the channel: the original stdout
    os.dup2(2, 1)  # anything printed from here on goes to stderr
    sys.stdout = sys.stderr
    from pipeline.model import outcome

    outcome.warm_up()  # imports and first uses of scikit-learn, before the first call
    _serve(sys.stdin.buffer, out)
    # Every answer is flushed and nothing else is held: exit without the
    # interpreter's teardown of scikit-learn, SciPy and pandas (~0.3 s the
    # run would wait for).
    os._exit(0)


if __name__ == "__main__":
    main()
