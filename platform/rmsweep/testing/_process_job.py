"""The wrapper ``ProcessLauncher`` runs each job in: run the command, write its exit code.

    python -m rmsweep.testing._process_job EXIT_FILE COMMAND...

A controller that did not start the job (it adopted it after the starter died) cannot wait
for it; the exit code in ``EXIT_FILE`` tells it how the job ended. The wrapper is the job's
process-group leader: a stop's SIGTERM reaches the command, and the wrapper outlives it to
write the code (a SIGKILL of the whole group leaves no file: the job counts as failed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    exit_file, command = argv[0], argv[1:]
    signal.signal(signal.SIGTERM, lambda *_: None)  # a handler, not SIG_IGN: the command
    proc = subprocess.Popen(command)  # gets the default action back when it starts
    code = proc.wait()
    partial = f"{exit_file}.partial"
    with open(partial, "w") as handle:
        handle.write(f"{code}\n")
    os.replace(partial, exit_file)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
