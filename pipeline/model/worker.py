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
text)`` out. The child's own prints go to its stderr. It exits when its
stdin closes, so it never outlives the run that started it.

    python -m pipeline.model.worker      # the child; started by Worker()
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path

PEAK_MESSAGE = "model worker: peak memory"  # logged with "<MiB> MiB" as a run closes it (benchmarks/perf.py)


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

    def call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in the child. An exception there is raised
        here, with the child's traceback in its notes."""
        self.send(fn, *args, **kwargs)
        return self.receive()

    def send(self, fn, *args, **kwargs) -> None:
        """Start ``fn(*args, **kwargs)`` in the child; ``receive`` waits for it."""
        try:
            pickle.dump((fn, args, kwargs), self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self._unavailable(e)

    def receive(self):
        """The result of the oldest call sent and not yet received."""
        try:
            status, *payload = pickle.load(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as e:
            self._unavailable(e)
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
        """The child's peak resident memory so far, in MiB (Linux: VmHWM;
        None elsewhere or once it has exited)."""
        try:
            with open(f"/proc/{self._proc.pid}/status") as fh:
                line = next(x for x in fh if x.startswith("VmHWM:"))
            return int(line.split()[1]) / 1024
        except (OSError, StopIteration, ValueError):
            return None

    def close(self, timeout: float = 10.0) -> int | None:
        """Close the child's stdin and wait for it to exit (kill it after ``timeout`` s)."""
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()
        finally:
            if self._proc.stdout:
                self._proc.stdout.close()


def _serve(inp, out) -> None:
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
